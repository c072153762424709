import { describe, expect, it } from "vitest";
import { isPreflight, replayCors } from "../../../src/http/cors";

const SHOP = "https://shop.example";

/** The headers of a stored answer the origin made for `SHOP`, with credentials. */
function storedForShop(extra: Record<string, string> = {}): Headers {
  return new Headers({
    "content-type": "application/json",
    "access-control-allow-origin": SHOP,
    "access-control-allow-credentials": "true",
    "access-control-expose-headers": "X-Charge",
    "access-control-allow-methods": "POST",
    "access-control-allow-headers": "idempotency-key",
    "access-control-max-age": "600",
    vary: "Origin",
    ...extra,
  });
}

describe("replayCors", () => {
  it("leaves out every CORS response header for a page the answer was not made for, and nothing else", () => {
    const headers = storedForShop();
    replayCors(headers, "https://other.example");
    expect([...headers.keys()].sort()).toEqual(["content-type", "vary"]);
  });

  it("compares origins exactly: another scheme or port is another page", () => {
    for (const page of ["http://shop.example", "https://shop.example:8443", "null"]) {
      const headers = storedForShop();
      replayCors(headers, page);
      expect(headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it.each([
    ["no list", {}, "Idempotent-Replayed"],
    ["a list", { "access-control-expose-headers": "X-Charge" }, "X-Charge, Idempotent-Replayed"],
    ["*", { "access-control-expose-headers": "*" }, "*, Idempotent-Replayed"],
    [
      "a list that already names it in another case",
      { "access-control-expose-headers": "x-charge, idempotent-replayed" },
      "x-charge, idempotent-replayed",
    ],
  ])(
    "exposes Idempotent-Replayed to the page the answer was made for, given %s",
    (_, extra, expected) => {
      const headers = new Headers({ "access-control-allow-origin": SHOP, ...extra });
      if (!("access-control-expose-headers" in extra))
        headers.delete("access-control-expose-headers");
      replayCors(headers, SHOP);
      expect(headers.get("access-control-expose-headers")).toBe(expected);
      expect(headers.get("access-control-allow-origin")).toBe(SHOP);
    },
  );

  it("does NOT add CORS headers to an answer the origin gave none", () => {
    const headers = new Headers({ "content-type": "application/json" });
    replayCors(headers, SHOP);
    expect([...headers.keys()]).toEqual(["content-type"]);
  });
});

describe("isPreflight", () => {
  it("is an OPTIONS with Origin and Access-Control-Request-Method, and nothing less", () => {
    const url = "https://api.example.com/v1/charges";
    const full = { origin: SHOP, "access-control-request-method": "POST" };
    expect(isPreflight(new Request(url, { method: "OPTIONS", headers: full }))).toBe(true);
    expect(isPreflight(new Request(url, { method: "OPTIONS", headers: { origin: SHOP } }))).toBe(
      false,
    );
    expect(
      isPreflight(
        new Request(url, {
          method: "OPTIONS",
          headers: { "access-control-request-method": "POST" },
        }),
      ),
    ).toBe(false);
    expect(isPreflight(new Request(url, { method: "POST", headers: full }))).toBe(false);
  });
});
