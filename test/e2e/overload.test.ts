import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { BUSY_RETRY_AFTER } from "../../src/coordinator/capacity";
import { ANSWER_RESERVE_BYTES, INFLIGHT_BUDGET_BYTES } from "../../src/coordinator/inflight-budget";
import { problemOf, send, startGateway } from "./harness";

/**
 * Overload over HTTP (docs/security.md, "Bounds"): when the object that owns a new key already holds as many
 * bytes of origin calls as it may, the key is refused with `503 gateway-busy` and a jittered
 * `Retry-After` — never a duplicate's `409` — and nothing is claimed, stored or forwarded, so the
 * same key is a first request once the object has room.
 */

let origin: TestOrigin;
let gateway: WranglerDev;

/** Large request bodies: a few of them fill one object's in-flight budget. */
const BODY_BYTES = 10 * 1024 * 1024;
const FIT = Math.floor(INFLIGHT_BUDGET_BYTES / (BODY_BYTES + ANSWER_RESERVE_BYTES));

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, {
    // One object for every key, so the held calls and the refused key meet.
    IDEMPOTENCY_SHARDS: "1",
    IDEMPOTENCY_MAX_BODY_BYTES: String(16 * 1024 * 1024),
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

describe("an object at its in-flight byte budget (wrangler dev)", () => {
  it("refuses a new key with 503 gateway-busy and a Retry-After of 1-5 s, forwards nothing, and serves the same key once the held calls are done", async () => {
    const gate = randomUUID();
    const body = new Uint8Array(BODY_BYTES).fill(0x61);
    const keys = Array.from({ length: FIT }, () => randomUUID());
    const held = keys.map((key) =>
      send(gateway, `/gate/${gate}/v1/uploads`, {
        key,
        body,
        headers: { "content-type": "application/octet-stream" },
      }),
    );
    await origin.arrivals(gate, FIT);

    const refusedKey = randomUUID();
    const refused = await send(gateway, `/gate/${gate}/v1/uploads`, {
      key: refusedKey,
      body,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    const problem = await problemOf(refused);
    expect(problem.code).toBe("gateway-busy");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(BUSY_RETRY_AFTER.min);
    expect(retryAfter).toBeLessThanOrEqual(BUSY_RETRY_AFTER.max);
    // A small request is not turned away by the large ones: its bytes still fit.
    const small = await send(gateway, "/v1/charges", { key: randomUUID() });
    expect(small.status).toBe(201);

    origin.release(gate);
    for (const response of await Promise.all(held)) {
      expect(response.status).toBe(201);
      await response.arrayBuffer();
    }
    expect(origin.requests(refusedKey)).toHaveLength(0);
    const retried = await send(gateway, "/v1/uploads", {
      key: refusedKey,
      body,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(origin.requests(refusedKey)).toHaveLength(1);
  });
});
