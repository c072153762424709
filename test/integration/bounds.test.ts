import { describe, expect, it } from "vitest";
import { DELIVERY_BUDGET_BYTES } from "../../src/coordinator/body-stream";
import { MAX_INFLIGHT_CALLS } from "../../src/coordinator/coordinator";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { patternBytes } from "../../harness/test-origin";
import { newKey, originArrivals, originRequests, post, problemOf, releaseGate } from "./harness";

/**
 * Memory bounds of one coordinator object (README, "Reliability and security"). Every test here
 * puts all keys in one object (`IDEMPOTENCY_SHARDS=1`), in a file of its own: storage is shared
 * by the tests of a file.
 */
describe("an object's memory bounds", () => {
  it("delivers a large answer to duplicates only within the object's byte budget; the rest get 409 at once, and other keys are unaffected", async () => {
    const key = newKey();
    const gate = newKey();
    const size = 8 * 1024 * 1024;
    const fit = DELIVERY_BUDGET_BYTES / size;
    // One object for every key, so the other key below shares it.
    const vars = { IDEMPOTENCY_SHARDS: "1", IDEMPOTENCY_MAX_RESPONSE_BYTES: String(size) };
    const first = post(`/gate/${gate}/bytes/${size}`, key, { vars });
    await originArrivals(gate, 1);
    const duplicates = Array.from({ length: 12 }, () =>
      post(`/gate/${gate}/bytes/${size}`, key, { vars }),
    );
    await releaseGate(gate);
    // No body is read yet: every answer given so far is still being delivered.
    const responses = await Promise.all([first, ...duplicates]);
    const statuses = responses.map((r) => r.status);
    expect(statuses[0]).toBe(200);
    expect(statuses.filter((s) => s === 200)).toHaveLength(fit);
    const refused = responses.filter((r) => r.status === 409);
    expect(refused).toHaveLength(responses.length - fit);
    for (const r of refused) expect(r.headers.get("retry-after")).toBe("1");

    // Another key on the same object is served while the budget is spent.
    const other = await post("/v1/charges", newKey(), { vars });
    expect(other.status).toBe(201);

    const expected = patternBytes(size);
    for (const r of responses) {
      const body = new Uint8Array(await r.arrayBuffer());
      if (r.status === 200) expect(body).toEqual(expected);
    }
    // Delivered: the budget is free again, and a retry replays the stored answer.
    const retry = await post(`/gate/${gate}/bytes/${size}`, key, { vars });
    expect(retry.status).toBe(200);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(new Uint8Array(await retry.arrayBuffer())).toEqual(expected);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it(`runs at most ${MAX_INFLIGHT_CALLS} origin calls per object; a new key past it gets 409 at once, nothing forwarded`, async () => {
    const gate = newKey();
    const vars = { IDEMPOTENCY_SHARDS: "1" };
    const keys = Array.from({ length: MAX_INFLIGHT_CALLS }, newKey);
    const held = keys.map((key) => post(`/gate/${gate}/v1/charges`, key, { vars }));
    await originArrivals(gate, MAX_INFLIGHT_CALLS);
    const extra = newKey();
    const refused = await post(`/gate/${gate}/v1/charges`, extra, { vars });
    expect(refused.status).toBe(409);
    expect((await problemOf(refused)).code).toBe("request-in-progress");
    await releaseGate(gate);
    const statuses = (await Promise.all(held)).map((r) => r.status);
    expect(statuses.every((s) => s === 201)).toBe(true);
    expect(await originRequests(extra)).toHaveLength(0);
    // Nothing was claimed: the key is free once the object has room.
    expect((await post("/v1/charges", extra, { vars })).status).toBe(201);
  });
});
