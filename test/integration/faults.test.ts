import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ALARM_BATCH_MS, MAX_WAITERS_PER_KEY } from "../../src/coordinator/coordinator";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  coordinatorOfKey,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
} from "./harness";

afterEach(() => {
  vi.useRealTimers();
});

describe("a storage failure while completing", () => {
  it("still gives the first caller the origin's answer, then fails closed: never a second forward", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000" };
    const first = post(`/gate/${gate}/v1/charges`, key, { vars });
    await originArrivals(gate, 1);
    const { stub } = await coordinatorOfKey(key);
    // Fault injection in the real object: its next completing write fails.
    await runInDurableObject(stub, (_, state) => {
      const sql = state.storage.sql;
      const original = sql.exec.bind(sql);
      let failed = false;
      sql.exec = ((query: string, ...bindings: SqlStorageValue[]) => {
        if (failed || !query.startsWith("UPDATE records SET state = 'completed'")) {
          return original(query, ...bindings);
        }
        failed = true;
        throw new Error("injected storage failure");
      }) as typeof sql.exec;
    });
    await releaseGate(gate);
    const answer = await first;
    expect(answer.status).toBe(201);

    const retry = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(retry.status).toBe(409);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10_000);
    const later = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(later.status).toBe(504);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("the alarm", () => {
  it("running twice, or late, loses no record early", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: { IDEMPOTENCY_SHARDS: "2" } });
    const { stub } = await coordinatorOfKey(key, { shards: 2 });
    // Fired early (and again): nothing has expired, so nothing goes.
    await runDurableObjectAlarm(stub);
    await runDurableObjectAlarm(stub);
    const retry = await post("/v1/charges", key, { vars: { IDEMPOTENCY_SHARDS: "2" } });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    // Late: past the TTL the record is gone at read time, alarm or no alarm.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 86_401_000);
    await runDurableObjectAlarm(stub);
    const count = await runInDurableObject(
      stub,
      (_, state) =>
        state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM records").one().n,
    );
    expect(count).toBe(0);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });

  it("does NOT delete a record whose origin call is still running, even past its TTL", async () => {
    const key = newKey();
    const gate = newKey();
    // One object for this key alone: a shard shared with other tests' keys would re-arm its
    // alarm for them, and "no alarm is left pending" could not be checked.
    // The shortest TTL the default origin timeout allows (30 s + 5 s lease grace).
    const vars = { IDEMPOTENCY_TTL_SECONDS: "35", IDEMPOTENCY_SHARDS: "0" };
    const first = post(`/gate/${gate}/v1/charges`, key, { vars });
    await originArrivals(gate, 1);
    const { stub, identity } = await coordinatorOfKey(key, { shards: 0 });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 40_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const state = await runInDurableObject(stub, (_, s) =>
      s.storage.sql
        .exec<{ state: string }>("SELECT state FROM records WHERE identity = ?", identity)
        .toArray(),
    );
    expect(state).toEqual([{ state: "in_flight" }]);
    // A duplicate still meets the running call rather than forwarding again.
    const duplicate = post(`/gate/${gate}/v1/charges`, key, { vars });
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect((await duplicate).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
    // The re-armed alarm collects it once it is done; leave none pending.
    vi.setSystemTime(Date.now() + 120_000);
    await runDurableObjectAlarm(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });
});

describe("bounded resources", () => {
  it(`lets at most ${MAX_WAITERS_PER_KEY} duplicates wait on one key; the rest get 409 at once`, async () => {
    const key = newKey();
    const gate = newKey();
    const extra = 5;
    let settled = 0;
    let onSettled: () => void = () => undefined;
    const extraSettled = new Promise<void>((resolve) => {
      onSettled = () => {
        if (++settled === extra) resolve();
      };
    });
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const duplicates = Array.from({ length: MAX_WAITERS_PER_KEY + extra }, () =>
      post(`/gate/${gate}/v1/charges`, key).then((response) => {
        onSettled();
        return response;
      }),
    );
    // With the origin held, only the duplicates over the bound can be answered.
    await extraSettled;
    await releaseGate(gate);
    const responses = await Promise.all(duplicates);
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 409)).toHaveLength(extra);
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_WAITERS_PER_KEY);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("secrets at rest", () => {
  it("stores no raw key, credential or request body", async () => {
    const key = `key-${newKey()}`;
    const credential = `Bearer sk_live_${newKey()}`;
    const body = `{"card":"4242424242424242","cvc":"${newKey()}"}`;
    await post("/v1/charges", key, { body, headers: { authorization: credential } });
    const { stub } = await coordinatorOfKey(key, { authorization: credential });
    const dump = await runInDurableObject(stub, (_, state) => {
      const tables = ["records", "chunks"];
      return tables
        .map((table) => JSON.stringify(state.storage.sql.exec(`SELECT * FROM ${table}`).toArray()))
        .join("\n");
    });
    expect(dump.length).toBeGreaterThan(0);
    expect(dump).not.toContain(key);
    expect(dump).not.toContain(credential.slice(7));
    expect(dump).not.toContain("4242424242424242");
  });
});

describe("replay header hygiene", () => {
  it("never stores or replays hop-by-hop fields, nor fields that Connection names", async () => {
    const key = newKey();
    const first = await post("/hop", key);
    expect(first.headers.get("x-end-to-end")).toBe("kept");
    const replay = await post("/hop", key);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(replay.headers.get("x-end-to-end")).toBe("kept");
    expect(replay.headers.get("x-hop-secret")).toBeNull();
    expect(replay.headers.get("keep-alive")).toBeNull();
    const { stub, identity } = await coordinatorOfKey(key);
    const stored = await runInDurableObject(
      stub,
      (_, state) =>
        state.storage.sql
          .exec<{ headers: string }>("SELECT headers FROM records WHERE identity = ?", identity)
          .one().headers,
    );
    expect(stored).not.toMatch(/x-hop-secret|keep-alive|connection/i);
  });

  it("answers a reused key with a problem, not with the stored answer", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    const reused = await post("/v1/charges", key, { body: "{}" });
    expect(reused.headers.get(REPLAYED_HEADER)).toBeNull();
    expect((await problemOf(reused)).code).toBe("idempotency-key-reused");
  });
});

describe("garbage collection under steady traffic", () => {
  it(`re-arms no sooner than ${ALARM_BATCH_MS / 1000} s later, however close the next expiry`, async () => {
    const vars = { IDEMPOTENCY_SHARDS: "1", IDEMPOTENCY_TTL_SECONDS: "60" };
    const keys = [newKey(), newKey()];
    for (const key of keys) await post("/v1/charges", key, { vars });
    const { stub } = await coordinatorOfKey(keys[0] ?? "", { shards: 1 });
    const { identity: second } = await coordinatorOfKey(keys[1] ?? "", { shards: 1 });
    // Between the two expiries: the first record goes, the second is due a moment later.
    const secondExpiry = await runInDurableObject(
      stub,
      (_, state) =>
        state.storage.sql
          .exec<{ e: number }>("SELECT expires_at AS e FROM records WHERE identity = ?", second)
          .one().e,
    );
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(secondExpiry - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThanOrEqual(secondExpiry - 1 + ALARM_BATCH_MS);
    // Leave no alarm pending.
    vi.setSystemTime(secondExpiry + ALARM_BATCH_MS * 2);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });
});
