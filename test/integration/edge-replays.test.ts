import { afterEach, describe, expect, it, vi } from "vitest";
import { IdempotencyCoordinator } from "../../src/coordinator/coordinator";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { newKey, originRequests, post, problemOf } from "./harness";

/**
 * Replays at the edge (docs/adr/0008): a Worker replays a completed answer it has seen without
 * asking the coordinator, for at most IDEMPOTENCY_EDGE_REPLAY_SECONDS. The coordinator runs in
 * this test's isolate, so its `execute` can be counted.
 */

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function coordinatorCalls() {
  return vi.spyOn(IdempotencyCoordinator.prototype, "execute");
}

function edgeLines(log: { mock: { calls: unknown[][] } }) {
  return log.mock.calls
    .map((call) => JSON.parse(String(call[0])) as Record<string, unknown>)
    .filter((line) => line.event === "idempotency" && line.edge === true);
}

describe("replays at the edge", () => {
  it("answers a retry of a completed request from the isolate, without a coordinator call", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key);
    const body = await first.text();
    const calls = coordinatorCalls();
    const log = vi.spyOn(console, "log");
    const retry = await post("/v1/charges", key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(body);
    expect(calls).not.toHaveBeenCalled();
    expect(edgeLines(log)).toHaveLength(1);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers a different request under the key with 422, as the coordinator would", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    const calls = coordinatorCalls();
    const reused = await post("/v1/charges", key, { body: '{"amount":2000}' });
    expect(reused.status).toBe(422);
    expect((await problemOf(reused)).code).toBe("idempotency-key-reused");
    expect(calls).not.toHaveBeenCalled();
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("never mixes scopes: the same key under another credential is another key", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    const other = await post("/v1/charges", key, { headers: { authorization: "Bearer sk_other" } });
    expect(other.status).toBe(201);
    expect(other.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("does NOT keep an unknown outcome: its retries ask the coordinator, and are never forwarded", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "100" };
    expect((await post("/hang", key, { vars })).status).toBe(504);
    const calls = coordinatorCalls();
    expect((await post("/hang", key, { vars })).status).toBe(504);
    expect(calls).toHaveBeenCalledTimes(1);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("does NOT keep a released answer (a retry status): the retry is forwarded again", async () => {
    const key = newKey();
    expect((await post("/status/503", key)).status).toBe(503);
    expect((await post("/status/503", key)).status).toBe(503);
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("asks the coordinator again once the bound has passed", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const calls = coordinatorCalls();
    const retry = await post("/v1/charges", key);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(calls).toHaveBeenCalledTimes(1);
  });

  it("is off with IDEMPOTENCY_EDGE_REPLAY_SECONDS=0: every retry asks the coordinator", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" };
    await post("/v1/charges", key, { vars });
    const calls = coordinatorCalls();
    const retry = await post("/v1/charges", key, { vars });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(calls).toHaveBeenCalledTimes(1);
  });
});
