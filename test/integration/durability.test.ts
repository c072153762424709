import {
  abortAllDurableObjects,
  evictDurableObject,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SIGHTING_VALID_MS } from "../../src/coordinator/mapping-registry";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { CHUNK_BYTES } from "../../src/core/stored-response";
import { patternBytes } from "../../harness/test-origin";
import {
  EDGE_OFF,
  countExecutes,
  executesReached,
  forgetVerdicts,
  coordinatorOfKey,
  gateway,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
} from "./harness";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("a completed record", () => {
  it("survives an eviction of its object and is still replayed", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key);
    const body = await first.text();
    const { stub } = await coordinatorOfKey(key);
    await evictDurableObject(stub);
    const retry = await post("/v1/charges", key);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(body);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("is replayed as a new request once its TTL has passed, even before the alarm runs", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_TTL_SECONDS: "60" };
    await post("/v1/charges", key, { vars });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const after = await post("/v1/charges", key, { vars });
    expect(after.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("is removed by the alarm once expired, and the alarm re-arms for the next record", async () => {
    const early = newKey();
    const late = newKey();
    const shards = { IDEMPOTENCY_SHARDS: "1" };
    await post("/v1/charges", early, { vars: { ...shards, IDEMPOTENCY_TTL_SECONDS: "60" } });
    await post("/v1/charges", late, { vars: { ...shards, IDEMPOTENCY_TTL_SECONDS: "600" } });
    const { stub, identity: earlyId } = await coordinatorOfKey(early, { shards: 1 });
    const { identity: lateId } = await coordinatorOfKey(late, { shards: 1 });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const remaining = await runInDurableObject(stub, async (_, state) => ({
      ids: state.storage.sql
        .exec<{ identity: string }>("SELECT identity FROM records")
        .toArray()
        .map((r) => r.identity),
      alarm: await state.storage.getAlarm(),
    }));
    expect(remaining.ids).not.toContain(earlyId);
    expect(remaining.ids).toContain(lateId);
    expect(remaining.alarm).not.toBeNull();
    // Leave no alarm pending for the next test.
    vi.setSystemTime(Date.now() + 600_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const left = await runInDurableObject(stub, async (_, state) => ({
      count: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM records").one().n,
      alarm: await state.storage.getAlarm(),
    }));
    expect(left).toEqual({ count: 0, alarm: null });
  });
});

describe("a record left in flight by a crash", () => {
  it("answers 409 while its lease runs, then 504 origin-outcome-unknown, and is never forwarded twice", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000" };
    // Handled from the start: it fails (a 500 from the Worker) while the test is still aborting
    // the object.
    const firstFailed = post(`/gate/${gate}/v1/charges`, key, { vars }).then(
      (response) => response.status === 500,
      () => true,
    );
    await originArrivals(gate, 1);
    // The object dies with the origin call pending: memory is lost, storage keeps the claim.
    await abortAllDurableObjects();
    expect(await firstFailed).toBe(true);

    const during = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(during.status).toBe(409);
    expect((await problemOf(during)).code).toBe("request-in-progress");

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10_000);
    const after = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(after.status).toBe(504);
    expect((await problemOf(after)).code).toBe("origin-outcome-unknown");
    vi.useRealTimers();
    const again = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(again.status).toBe(504);
    await releaseGate(gate);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("can NOT be purged while its lease runs: the dead instance's origin call may still be running", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = {
      IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000",
      ADMIN_TOKEN: "test-admin-token-0123456789-abcdefghij",
    };
    const purge = () =>
      gateway(
        "/__idempotency/keys/purge",
        {
          method: "POST",
          headers: {
            authorization: "Bearer test-admin-token-0123456789-abcdefghij",
            "content-type": "application/json",
          },
          body: JSON.stringify({ key, scope: { authorization: "Bearer sk_test_a" } }),
        },
        vars,
      );
    const firstFailed = post(`/gate/${gate}/v1/charges`, key, { vars }).then(
      (response) => response.status === 500,
      () => true,
    );
    await originArrivals(gate, 1);
    await abortAllDurableObjects();
    expect(await firstFailed).toBe(true);

    const during = await purge();
    expect(during.status).toBe(409);
    expect((await problemOf(during)).code).toBe("request-in-progress");
    expect((await post(`/gate/${gate}/v1/charges`, key, { vars })).status).toBe(409);

    // Once the lease is over, no call can still be running: the operator may release the key.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10_000);
    expect((await purge()).status).toBe(200);
    vi.useRealTimers();
    await releaseGate(gate);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("changing the shard count", () => {
  it("replays keys stored under the previous mapping while IDEMPOTENCY_SHARDS_PREVIOUS names it", async () => {
    const key = newKey();
    const before = { IDEMPOTENCY_SHARDS: "0", ...EDGE_OFF };
    const during = { IDEMPOTENCY_SHARDS: "8", IDEMPOTENCY_SHARDS_PREVIOUS: "0", ...EDGE_OFF };
    const first = await post("/v1/charges", key, { vars: before });
    const body = await first.text();
    const reached = countExecutes();
    const retry = await post("/v1/charges", key, { vars: during });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    // Answered by the previous mapping's object, not from the Worker's memory.
    expect(reached.count).toBe(1);
    expect(await retry.text()).toBe(body);
    // A new key goes to the new mapping.
    const fresh = newKey();
    await post("/v1/charges", fresh, { vars: during });
    const { stub } = await coordinatorOfKey(fresh, { shards: 8 });
    const { identity } = await coordinatorOfKey(fresh);
    expect(await stub.lookup(identity)).not.toBeNull();
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("lets a duplicate meet a request still in flight under the previous mapping", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key, { vars: { IDEMPOTENCY_SHARDS: "64" } });
    await originArrivals(gate, 1);
    const duplicate = post(`/gate/${gate}/v1/charges`, key, {
      vars: { IDEMPOTENCY_SHARDS: "16", IDEMPOTENCY_SHARDS_PREVIOUS: "64" },
    });
    await releaseGate(gate);
    const [a, b] = await Promise.all([first, duplicate]);
    expect(await b.text()).toBe(await a.text());
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("a rolling deploy that changes the shard count (old and new Workers side by side)", () => {
  // Edge replays off: the subject is how the objects of the two mappings arbitrate.
  const OLD = { IDEMPOTENCY_SHARDS: "4", ...EDGE_OFF };
  const NEW = { IDEMPOTENCY_SHARDS: "8", IDEMPOTENCY_SHARDS_PREVIOUS: "4", ...EDGE_OFF };
  const FINAL = { IDEMPOTENCY_SHARDS: "8", ...EDGE_OFF };
  // Each test starts from an empty registry: objects must not answer from an earlier test's
  // verdict (docs/adr/0009).
  beforeEach(forgetVerdicts);

  it("finds a key stored by the new Worker from the old Worker: a replay, never a second forward", async () => {
    await post("/v1/charges", newKey(), { vars: OLD });
    const key = newKey();
    const first = await post("/v1/charges", key, { vars: NEW });
    expect(first.status).toBe(201);
    const reached = countExecutes();
    const retry = await post("/v1/charges", key, { vars: OLD });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    // The old object redirected the old Worker to the key's new home: two commands.
    expect(reached.count).toBe(2);
    expect(await retry.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("still sends the old Worker to the key's new home after the old object was evicted", async () => {
    // Without replays at the edge, so that the retry reaches the old object.
    const noEdge = { IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" };
    await post("/v1/charges", newKey(), { vars: { ...OLD, ...noEdge } });
    const key = newKey();
    const first = await post("/v1/charges", key, { vars: { ...NEW, ...noEdge } });
    // The marker that sends the key on is read from storage by the object's next instance.
    const { stub } = await coordinatorOfKey(key, { shards: 4 });
    await evictDurableObject(stub);
    const retry = await post("/v1/charges", key, { vars: { ...OLD, ...noEdge } });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("finds a key stored by the old Worker from the new Worker", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: OLD });
    const retry = await post("/v1/charges", key, { vars: NEW });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  // The commands the five duplicates send: one each to the old object that holds the first, or
  // two each (the old object, then the key's new home) when the first went to the new mapping.
  it.each([
    ["old first, new duplicate", OLD, NEW, 5],
    ["new first, old duplicate", NEW, OLD, 10],
  ])("lets concurrent duplicates meet in one object (%s)", async (_, a, b, commands) => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key, { vars: a });
    await originArrivals(gate, 1);
    const reached = countExecutes();
    const duplicates = Array.from({ length: 5 }, (_, i) =>
      post(`/gate/${gate}/v1/charges`, key, { vars: i % 2 === 0 ? b : a }),
    );
    // Released only once every duplicate has reached a coordinator: each meets the first there.
    await executesReached(reached, commands);
    await releaseGate(gate);
    const answers = await Promise.all([first, ...duplicates]);
    const bodies = await Promise.all(answers.map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("refuses to end the migration before one TTL has passed, then refuses the old Worker", async () => {
    const stored = newKey();
    await post("/v1/charges", stored, { vars: OLD });
    await post("/v1/charges", newKey(), { vars: NEW });
    const early = await post("/v1/charges", newKey(), { vars: FINAL });
    expect(early.status).toBe(500);
    expect(String((await problemOf(early)).detail)).toContain("IDEMPOTENCY_SHARDS_PREVIOUS");

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 86_400_000 + SIGHTING_VALID_MS + 60_000);
    const key = newKey();
    expect((await post("/v1/charges", key, { vars: FINAL })).status).toBe(201);
    // An old Worker now would write where the new ones never look: its claims are refused.
    const fresh = newKey();
    const late = await post("/v1/charges", fresh, { vars: OLD });
    expect(late.status).toBe(500);
    expect((await problemOf(late)).code).toBe("invalid-configuration");
    expect(await originRequests(fresh)).toHaveLength(0);
    // A straggler of the migration still goes through the old objects, which redirect.
    const straggler = await post("/v1/charges", key, { vars: NEW });
    expect(straggler.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("refuses a shard count changed without IDEMPOTENCY_SHARDS_PREVIOUS, forwarding nothing", async () => {
    await post("/v1/charges", newKey(), { vars: OLD });
    const key = newKey();
    const changed = await post("/v1/charges", key, { vars: FINAL });
    expect(changed.status).toBe(500);
    const problem = await problemOf(changed);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("IDEMPOTENCY_SHARDS");
    expect(await originRequests(key)).toHaveLength(0);
  });
});

describe("an eviction while a request is in flight", () => {
  it("lets the origin call finish and keeps its answer: the retry replays it, one origin call", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const { stub } = await coordinatorOfKey(key);
    // Eviction drains in-flight work first (the origin call is kept alive by waitUntil).
    const evicted = evictDurableObject(stub);
    await releaseGate(gate);
    // The answer is read while the eviction waits: its body streams from the object, and the
    // object is only evicted once that stream has ended.
    const [answer] = await Promise.all([
      first.then(async (response) => ({ status: response.status, text: await response.text() })),
      evicted,
    ]);
    expect(answer.status).toBe(201);
    const body = answer.text;
    const retry = await post(`/gate/${gate}/v1/charges`, key);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(body);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("large responses", () => {
  it("are stored in chunks no larger than one storage value and replayed byte-identically", async () => {
    const key = newKey();
    const size = 3 * CHUNK_BYTES + 12_345;
    const first = await post(`/bytes/${size}`, key);
    expect(new Uint8Array(await first.arrayBuffer())).toEqual(patternBytes(size));
    const { stub, identity } = await coordinatorOfKey(key);
    const sizes = await runInDurableObject(stub, (_, state) => [
      ...state.storage.sql
        .exec<{ n: number }>("SELECT length(body) AS n FROM records WHERE identity = ?", identity)
        .toArray()
        .map((r) => r.n),
      ...state.storage.sql
        .exec<{ n: number }>(
          "SELECT length(data) AS n FROM chunks WHERE identity = ? ORDER BY seq",
          identity,
        )
        .toArray()
        .map((r) => r.n),
    ]);
    expect(sizes).toEqual([CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES, 12_345]);
    await evictDurableObject(stub);
    const retry = await post(`/bytes/${size}`, key);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(new Uint8Array(await retry.arrayBuffer())).toEqual(patternBytes(size));
    expect(await originRequests(key)).toHaveLength(1);
  });
});
