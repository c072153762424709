import { describe, expect, it, vi } from "vitest";
import { DELIVERY_BUDGET_BYTES } from "../../src/coordinator/body-stream";
import { MAX_INFLIGHT_CALLS } from "../../src/coordinator/coordinator";
import { BUSY_RETRY_AFTER } from "../../src/coordinator/capacity";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { patternBytes } from "../../harness/test-origin";
import { runInDurableObject } from "cloudflare:test";
import {
  coordinatorOfKey,
  gateway,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
} from "./harness";

/**
 * Memory bounds of one coordinator object (docs/security.md, "Reliability and security"). Every test here
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

  it(`runs at most ${MAX_INFLIGHT_CALLS} origin calls per object; a new key past it gets 503 gateway-busy with a jittered Retry-After, nothing forwarded or claimed`, async () => {
    const gate = newKey();
    const vars = { IDEMPOTENCY_SHARDS: "1" };
    const keys = Array.from({ length: MAX_INFLIGHT_CALLS }, newKey);
    const held = keys.map((key) => post(`/gate/${gate}/v1/charges`, key, { vars }));
    await originArrivals(gate, MAX_INFLIGHT_CALLS);
    const extras = Array.from({ length: 20 }, newKey);
    const refused = await Promise.all(
      extras.map((key) => post(`/gate/${gate}/v1/charges`, key, { vars })),
    );
    const delays = new Set<string | null>();
    for (const response of refused) {
      // Overload is not a duplicate: never 409 "in progress" for a key nobody sent before.
      expect(response.status).toBe(503);
      const problem = await problemOf(response);
      expect(problem.code).toBe("gateway-busy");
      const retryAfter = Number(response.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(BUSY_RETRY_AFTER.min);
      expect(retryAfter).toBeLessThanOrEqual(BUSY_RETRY_AFTER.max);
      delays.add(response.headers.get("retry-after"));
    }
    // Spread, not one fixed delay that would bring every client back at once.
    expect(delays.size).toBeGreaterThan(1);
    await releaseGate(gate);
    const statuses = (await Promise.all(held)).map((r) => r.status);
    expect(statuses.every((s) => s === 201)).toBe(true);
    for (const key of extras) expect(await originRequests(key)).toHaveLength(0);
    // Nothing was claimed: the key is free once the object has room.
    expect((await post("/v1/charges", extras[0] as string, { vars })).status).toBe(201);
  });

  it("takes no new key once its database reaches IDEMPOTENCY_STORAGE_LIMIT_BYTES: 503 gateway-busy, nothing forwarded or stored, while stored answers still replay", async () => {
    const base = { IDEMPOTENCY_SHARDS: "1", IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" };
    const stored = newKey();
    expect((await post("/v1/charges", stored, { vars: base })).status).toBe(201);
    const { stub } = await coordinatorOfKey(stored, { shards: 1 });
    const size = await runInDurableObject(stub, (_, state) => state.storage.sql.databaseSize);
    // A limit the object has just reached, as a shard near the platform's 10 GB would.
    const vars = { ...base, IDEMPOTENCY_STORAGE_LIMIT_BYTES: String(Math.max(1_048_576, size)) };
    if (size < 1_048_576) {
      // Grow the database past the smallest limit the setting accepts.
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec("CREATE TABLE IF NOT EXISTS ballast (data BLOB)");
        state.storage.sql.exec("INSERT INTO ballast VALUES (zeroblob(1100000))");
      });
    }
    const logged = vi.spyOn(console, "warn");
    const key = newKey();
    const refused = await post("/v1/charges", key, { vars });
    expect(refused.status).toBe(503);
    expect((await problemOf(refused)).code).toBe("gateway-busy");
    expect(await originRequests(key)).toHaveLength(0);
    expect(await stub.lookup((await coordinatorOfKey(key, { shards: 1 })).identity)).toBeNull();
    // Operators hear of it before anyone is refused, and when it happens.
    expect(logged.mock.calls.some(([line]) => String(line).includes('"storage-high"'))).toBe(true);

    const replay = await post("/v1/charges", stored, { vars });
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");

    // The admin API shows each object's use, so shards are added before keys are refused.
    const token = "storage-report-token-of-32-chars!";
    const report = await gateway(
      "/__idempotency/storage",
      { headers: { authorization: `Bearer ${token}` } },
      { ...vars, ADMIN_TOKEN: token },
    );
    expect(report.status).toBe(200);
    const body = (await report.json()) as {
      refuseBytes: number;
      objects: { object: string; bytes: number; records: number; standing: string }[];
    };
    expect(body.refuseBytes).toBe(Number(vars.IDEMPOTENCY_STORAGE_LIMIT_BYTES));
    expect(body.objects).toHaveLength(1);
    expect(body.objects[0]).toMatchObject({ object: "shard-0-of-1", standing: "full" });
    expect(body.objects[0]?.records).toBeGreaterThanOrEqual(1);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("DROP TABLE IF EXISTS ballast");
    });
    logged.mockRestore();
  });
});
