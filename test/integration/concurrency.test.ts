import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
  type Vars,
} from "./harness";

const DUPLICATES = 200;

async function raceDuplicates(vars: Vars) {
  const key = newKey();
  const gate = newKey();
  const all = Array.from({ length: DUPLICATES }, () =>
    post(`/gate/${gate}/v1/charges`, key, { vars }),
  );
  // The first request is held at the origin until every duplicate has been sent.
  await originArrivals(gate, 1);
  await releaseGate(gate);
  const responses = await Promise.all(all);
  const bodies = await Promise.all(responses.map((r) => r.text()));
  return { key, responses, bodies };
}

describe("concurrent duplicates", () => {
  it(`forward ${DUPLICATES} simultaneous duplicates to the origin exactly once, and give all the same answer`, async () => {
    const { key, responses, bodies } = await raceDuplicates({});
    expect(await originRequests(key)).toHaveLength(1);
    expect(new Set(responses.map((r) => r.status))).toEqual(new Set([201]));
    expect(new Set(bodies).size).toBe(1);
    const firsts = responses.filter((r) => r.headers.get(REPLAYED_HEADER) === null);
    expect(firsts).toHaveLength(1);
  });

  it.each(["0", "4"])("forward exactly once with IDEMPOTENCY_SHARDS=%s", async (shards) => {
    const { key, responses, bodies } = await raceDuplicates({ IDEMPOTENCY_SHARDS: shards });
    expect(await originRequests(key)).toHaveLength(1);
    expect(responses.every((r) => r.status === 201)).toBe(true);
    expect(new Set(bodies).size).toBe(1);
  });

  it("answer 409 request-in-progress at once, with Retry-After, when concurrency is reject", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = { IDEMPOTENCY_CONCURRENCY: "reject" };
    const first = post(`/gate/${gate}/v1/charges`, key, { vars });
    await originArrivals(gate, 1);
    const duplicate = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await problemOf(duplicate)).code).toBe("request-in-progress");
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answer 409 request-in-progress to a duplicate that waited longer than IDEMPOTENCY_WAIT_MS", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = { IDEMPOTENCY_WAIT_MS: "20" };
    const first = post(`/gate/${gate}/v1/charges`, key, { vars });
    await originArrivals(gate, 1);
    const duplicate = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).toMatch(/^\d+$/);
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    const later = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(later.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answer 422 to a different request with the key while the first is still in flight, and do NOT forward it", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const other = await post(`/gate/${gate}/v1/charges`, key, { body: '{"amount":2000}' });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe("idempotency-key-reused");
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });
});
