import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerdRss } from "../../harness/proc.ts";
import { patternBytes, startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startGateway } from "./harness";

const ANSWER_BYTES = 8 * 1024 * 1024;
const DUPLICATES = 100;
/**
 * Before answers were streamed under a byte budget, each duplicate waiting on an 8 MiB answer
 * grew workerd by 29–41 MiB (100 duplicates: about 3 GiB). Streamed and budgeted: a few hundred
 * MiB at most, whatever the number of duplicates.
 */
const MAX_GROWTH_MIB = 400;

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  // One object for every key: the other key below shares the flooded key's object.
  gateway = await startGateway(origin.url, {
    IDEMPOTENCY_SHARDS: "1",
    IDEMPOTENCY_MAX_RESPONSE_BYTES: String(16 * 1024 * 1024),
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

function post(path: string, key: string): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { authorization: "Bearer sk_test_memory", "idempotency-key": key },
    body: "{}",
  });
}

describe("memory under a flood of duplicates of a large answer (wrangler dev)", () => {
  it(`keeps workerd's growth under ${MAX_GROWTH_MIB} MiB for ${DUPLICATES} duplicates of an 8 MiB answer, and serves other keys`, async () => {
    await (await post("/v1/charges", randomUUID())).arrayBuffer();
    const before = workerdRss(gateway.process.pid ?? 0).totalMiB;
    // A reading of 0 would mean /proc found no workerd, and any growth would then "pass".
    expect(before).toBeGreaterThan(0);
    let peak = before;
    const sample = () => {
      peak = Math.max(peak, workerdRss(gateway.process.pid ?? 0).totalMiB);
    };
    // Sampling is measurement, not waiting: nothing here depends on its timing.
    const sampler = setInterval(sample, 50);

    const key = randomUUID();
    const gate = randomUUID();
    const first = post(`/gate/${gate}/bytes/${ANSWER_BYTES}`, key);
    await origin.arrivals(gate, 1);
    const duplicates = Array.from({ length: DUPLICATES }, () =>
      post(`/gate/${gate}/bytes/${ANSWER_BYTES}`, key),
    );
    const other = post("/v1/charges", randomUUID());
    origin.release(gate);
    const responses = await Promise.all([first, ...duplicates]);
    const expected = Buffer.from(patternBytes(ANSWER_BYTES));
    let delivered = 0;
    for (const response of responses) {
      expect([200, 409]).toContain(response.status);
      const body = Buffer.from(await response.arrayBuffer());
      if (response.status === 200) {
        delivered++;
        expect(body.equals(expected)).toBe(true);
      }
    }
    sample();
    clearInterval(sampler);

    expect(responses[0]?.status).toBe(200);
    expect(delivered).toBeGreaterThanOrEqual(1);
    expect((await other).status).toBe(201);
    expect(origin.requests(key)).toHaveLength(1);
    expect(peak).toBeGreaterThan(0);
    expect(peak - before).toBeLessThan(MAX_GROWTH_MIB);
  });
});
