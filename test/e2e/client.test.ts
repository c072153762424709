import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { createIdempotentFetch, type FetchLike } from "../../src/client";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { startGateway } from "./harness";

/**
 * The client helper against the real gateway and a real origin. The two ways a payment's answer
 * gets lost — between origin and gateway, and between gateway and client — end as the contract
 * says: with one charge either way.
 */

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url);
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

const noSleep = () => Promise.resolve();
const INIT = {
  method: "POST",
  headers: { authorization: "Bearer sk_test_client", "content-type": "application/json" },
  body: '{"amount":1000,"currency":"usd"}',
};

describe("the client helper with the real gateway", () => {
  it("reports outcome-unknown, without retrying into a second charge, when the origin processed the payment but dropped the connection", async () => {
    const key = randomUUID();
    const idempotentFetch = createIdempotentFetch({ sleep: noSleep, generateKey: () => key });
    const result = await idempotentFetch(`${gateway.url}/reset`, INIT);
    expect(result.outcome).toBe("unknown");
    expect(result.response.status).toBe(504);
    expect(result.key).toBe(key);
    // The caller tries again later: the gateway still fails closed, never a second charge.
    const again = await idempotentFetch(`${gateway.url}/reset`, { ...INIT, idempotencyKey: key });
    expect(again.outcome).toBe("unknown");
    expect(again.replayed).toBe(true);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("retries with the same key when the answer is lost on the way back, and gets the stored answer as a replay", async () => {
    let attempts = 0;
    // The network between client and gateway: the first answer is lost after the gateway sent it.
    const lossyFetch: FetchLike = async (request) => {
      attempts++;
      const response = await fetch(request);
      if (attempts === 1) {
        await response.arrayBuffer();
        throw new TypeError("fetch failed: connection reset");
      }
      return response;
    };
    const key = randomUUID();
    const idempotentFetch = createIdempotentFetch({
      fetch: lossyFetch,
      sleep: noSleep,
      generateKey: () => key,
    });
    const result = await idempotentFetch(`${gateway.url}/v1/payments`, INIT);
    expect(result.attempts).toBe(2);
    expect(result.outcome).toBe("final");
    expect(result.replayed).toBe(true);
    expect(result.response.status).toBe(201);
    expect(origin.requests(key)).toHaveLength(1);
  });
});
