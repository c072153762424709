import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { HOP, newKey, originRequests, post } from "./harness";

describe("the first request with a key", () => {
  it("is forwarded once, with the key in bare form and hop-by-hop headers removed", async () => {
    const key = newKey();
    const response = await post("/v1/charges?expand=customer", `"${key}"`, {
      headers: { "x-custom": "kept", connection: "x-drop", "x-drop": "dropped" },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get(REPLAYED_HEADER)).toBeNull();
    const seen = await originRequests(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.path).toBe("/v1/charges");
    expect(seen[0]?.query).toBe("expand=customer");
    expect(seen[0]?.headers["idempotency-key"]).toBe(key);
    expect(seen[0]?.headers["x-custom"]).toBe("kept");
    expect(seen[0]?.headers["x-drop"]).toBeUndefined();
    expect(seen[0]?.headers.authorization).toBe("Bearer sk_test_a");
    expect(seen[0]?.headers["idempotency-gateway-hop"]).toBe(HOP);
    expect(HOP).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(seen[0]?.bodyBase64 ?? "", "base64").toString()).toBe('{"amount":1000}');
  });

  it("returns the origin's answer unchanged", async () => {
    const response = await post("/v1/charges", newKey());
    const body = (await response.json()) as { charge: number; path: string };
    expect(response.headers.get("x-charge")).toBe(String(body.charge));
    expect(body.path).toBe("/v1/charges");
  });
});

describe("a retry after the first finished", () => {
  it("gets the stored status, headers and body, marked Idempotent-Replayed, without a second forward", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key);
    const firstBody = await first.text();
    const retry = await post("/v1/charges", key);
    expect(retry.status).toBe(first.status);
    expect(await retry.text()).toBe(firstBody);
    expect(retry.headers.get("x-charge")).toBe(first.headers.get("x-charge"));
    expect(retry.headers.get("content-type")).toBe(first.headers.get("content-type"));
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("treats the quoted and the bare spelling as the same key", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    const retry = await post("/v1/charges", `"${key}"`);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });
});
