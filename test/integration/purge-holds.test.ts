import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { edgeReplays } from "../../src/http/edge-replays";
import {
  EDGE_OFF,
  coordinatorOfKey,
  gateway,
  newKey,
  originRequests,
  post,
  problemOf,
  type Vars,
} from "./harness";

/**
 * A purge and the replays at the edge agree (docs/adr/0008): a purged completed key is not
 * claimed again while any Worker may still replay its old answer, so a retry is never both
 * forwarded (a new charge) and replayed (the purged one).
 *
 * Two Worker isolates cannot be started here, so the other isolate is played by this one: its
 * `forget` is held back, which leaves the entry exactly where an isolate the purge did not reach
 * keeps it; and a request with edge replays off (`EDGE_OFF`) is one reaching an isolate that has
 * not seen the answer, which asks the coordinator.
 */

const ADMIN_TOKEN = "purge-holds-admin-token-0123456789abcdef";
const CREDENTIAL = "Bearer sk_test_a";
const EDGE_SECONDS = 60;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function purge(key: string, vars: Vars = {}) {
  return gateway(
    "/__idempotency/keys/purge",
    {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ key, scope: { authorization: CREDENTIAL } }),
    },
    { ADMIN_TOKEN, ...vars },
  );
}

/** Moves `Date` (only) forward by `ms`. */
function later(ms: number): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + ms);
}

describe("a purge of a completed answer that Workers may still replay", () => {
  it("does NOT let the key be claimed while another isolate replays the purged answer: that retry gets 409, and none is forwarded until the edge bound has passed", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key);
    expect(first.status).toBe(201);
    const charge = await first.text();

    // The purge reaches its own isolate only; every other isolate keeps its entry.
    vi.spyOn(edgeReplays, "forget").mockImplementation(() => undefined);
    expect((await purge(key)).status).toBe(200);

    // Started together: one retry reaches an isolate holding the answer, one reaches the coordinator.
    const [replayed, asked] = await Promise.all([
      post("/v1/charges", key),
      post("/v1/charges", key, { vars: EDGE_OFF }),
    ]);
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await replayed.text()).toBe(charge);
    expect(asked.status).toBe(409);
    expect((await problemOf(asked)).code).toBe("request-in-progress");
    const retryAfter = Number(asked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(EDGE_SECONDS);
    expect(await originRequests(key)).toHaveLength(1);

    // Past the bound no isolate replays it, and the key is claimed as a first request.
    later(EDGE_SECONDS * 1000 + 1_000);
    const retry = await post("/v1/charges", key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("keeps the hold through an eviction of its object: the restarted object still refuses the retry with 409", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key)).status).toBe(201);
    expect((await purge(key)).status).toBe(200);
    // A new instance knows of holds only from storage (it looks holds up only if it has some).
    await evictDurableObject((await coordinatorOfKey(key)).stub);
    const asked = await post("/v1/charges", key, { vars: EDGE_OFF });
    expect(asked.status).toBe(409);
    expect((await problemOf(asked)).code).toBe("request-in-progress");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("logs the refused retry with the outcome held", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key)).status).toBe(201);
    expect((await purge(key)).status).toBe(200);
    const log = vi.spyOn(console, "log");
    expect((await post("/v1/charges", key, { vars: EDGE_OFF })).status).toBe(409);
    const lines = log.mock.calls.map(
      (call) => JSON.parse(String(call[0])) as Record<string, unknown>,
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ event: "idempotency", outcome: "held", status: 409 }),
    );
  });

  it("holds nothing where edge replays are off (0): the next retry is forwarded at once", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key, { vars: EDGE_OFF })).status).toBe(201);
    expect((await purge(key, EDGE_OFF)).status).toBe(200);
    const retry = await post("/v1/charges", key, { vars: EDGE_OFF });
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("holds nothing for an unknown outcome, which no Worker keeps: the next retry is forwarded at once", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "50" };
    expect((await post("/hang", key, { vars })).status).toBe(504);
    expect((await purge(key, vars)).status).toBe(200);
    expect((await post("/v1/charges-after-purge", key)).status).toBe(201);
  });

  it("holds for the longest edge bound (300 s) when the purging Worker does not say its own, and the alarm removes the hold once it has ended", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key)).status).toBe(201);
    const { identity, stub } = await coordinatorOfKey(key);
    // An older Worker's call: no bound given.
    expect(await stub.purge(identity)).toBe("purged");

    later(EDGE_SECONDS * 1000 + 1_000);
    expect((await post("/v1/charges", key, { vars: EDGE_OFF })).status).toBe(409);
    later(300_000);
    await runDurableObjectAlarm(stub);
    const holds = await runInDurableObject(
      stub,
      (_, state) =>
        state.storage.sql
          .exec<{ n: number }>("SELECT COUNT(*) AS n FROM purge_holds WHERE identity = ?", identity)
          .one().n,
    );
    expect(holds).toBe(0);
    expect((await post("/v1/charges", key, { vars: EDGE_OFF })).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(2);
  });
});
