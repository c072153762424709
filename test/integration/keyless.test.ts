import { afterEach, describe, expect, it, vi } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { countExecutes, newKey, originRequests, post, problemOf } from "./harness";

/**
 * Covered requests without a key (docs/configuration.md, "The key"; docs/adr/0013): with the defaults they are
 * proxied untouched, as if the gateway were not there, and counted as their own outcome
 * (`keyless`); a route with `IDEMPOTENCY_KEY_REQUIRED=true` refuses them. The origin records
 * these requests by `X-Marker`.
 */

function bodyOf(base64: string | undefined): string {
  return Buffer.from(base64 ?? "", "base64").toString();
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("a covered request without a key, with the defaults", () => {
  it.each(["POST", "PATCH"])(
    "is a %s proxied untouched: each one forwarded with its body, nothing stored, nothing replayed",
    async (method) => {
      const marker = newKey();
      const body = '{"amount":1000,"currency":"usd"}';
      const executes = countExecutes();
      const options = { method, body, headers: { "x-marker": marker } };
      const first = await post("/v1/charges", null, options);
      const second = await post("/v1/charges", null, options);
      expect([first.status, second.status]).toEqual([201, 201]);
      expect(second.headers.get(REPLAYED_HEADER)).toBeNull();
      expect(second.headers.get("x-charge")).not.toBe(first.headers.get("x-charge"));
      const seen = await originRequests(marker);
      expect(seen.map((request) => request.method)).toEqual([method, method]);
      expect(seen.map((request) => bodyOf(request.bodyBase64))).toEqual([body, body]);
      expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
      // Never a coordinator's business: nothing is claimed or stored for it.
      expect(executes.count).toBe(0);
    },
  );

  it("is proxied with its body unchanged where the key is read from the body and the member is absent", async () => {
    const marker = newKey();
    const body = '{"amount_money":{"amount":1000}}';
    const response = await post("/v2/payments", null, {
      body,
      headers: { "x-marker": marker },
      vars: { IDEMPOTENCY_KEY_FROM: "json:/idempotency_key" },
    });
    expect(response.status).toBe(201);
    const seen = await originRequests(marker);
    expect(seen.map((request) => bodyOf(request.bodyBase64))).toEqual([body]);
  });

  it("is logged and counted as its own outcome, keyless, with the origin's status and no key hash", async () => {
    const log = vi.spyOn(console, "log");
    const writeDataPoint = vi.fn();
    const response = await post("/v1/charges", null, {
      headers: { "x-marker": newKey() },
      vars: { METRICS: { writeDataPoint } },
    });
    expect(response.status).toBe(201);
    const events = log.mock.calls
      .map((call) => JSON.parse(String(call[0])) as Record<string, unknown>)
      .filter((event) => event.event === "idempotency");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: "keyless", method: "POST", status: 201 });
    expect(events[0]?.keyHash).toBeUndefined();
    expect(writeDataPoint).toHaveBeenCalledTimes(1);
    expect(writeDataPoint.mock.calls[0]?.[0]).toMatchObject({
      indexes: ["keyless"],
      blobs: ["keyless", "POST"],
    });
  });

  it("is counted keyless with the 502 of an origin that does not answer", async () => {
    const writeDataPoint = vi.fn();
    const response = await post("/v1/charges", null, {
      vars: { ORIGIN_URL: "http://127.0.0.1:9", METRICS: { writeDataPoint } },
    });
    expect(response.status).toBe(502);
    expect((await problemOf(response)).code).toBe("origin-unreachable");
    expect(writeDataPoint.mock.calls[0]?.[0]).toMatchObject({
      indexes: ["keyless"],
      doubles: [502, 0, expect.any(Number), 0],
    });
  });
});

describe("a route that requires keys (IDEMPOTENCY_KEY_REQUIRED=true)", () => {
  const vars = {
    IDEMPOTENCY_ROUTES: JSON.stringify({
      "/checkout_sessions/*": { IDEMPOTENCY_KEY_REQUIRED: "true" },
    }),
  };

  it("answers a request without a key 400 missing-idempotency-key and forwards nothing, while other routes pass it through", async () => {
    const refusedMarker = newKey();
    const refused = await post("/checkout_sessions/cs_1", null, {
      headers: { "x-marker": refusedMarker },
      vars,
    });
    expect(refused.status).toBe(400);
    expect((await problemOf(refused)).code).toBe("missing-idempotency-key");
    expect(await originRequests(refusedMarker)).toHaveLength(0);

    const passedMarker = newKey();
    const passed = await post("/v1/charges", null, { headers: { "x-marker": passedMarker }, vars });
    expect(passed.status).toBe(201);
    expect(await originRequests(passedMarker)).toHaveLength(1);
  });

  it("still makes a keyed request idempotent there: one forward, then a replay", async () => {
    const key = newKey();
    const first = await post("/checkout_sessions/cs_1", key, { vars });
    const retry = await post("/checkout_sessions/cs_1", key, { vars });
    expect(first.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });
});
