import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SIGHTING_VALID_MS } from "../../src/coordinator/mapping-registry";
import { DRAIN_MARGIN_MS } from "../../src/core/mapping";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { EDGE_OFF, coordinatorOfKey, newKey, originRequests, post, problemOf } from "./harness";

/**
 * Changing the key → object mapping while records are live (docs/adr/0006): the registry's rules
 * over the whole life of a migration — what TTL it waits for, when the previous objects stop
 * writing, and migrating back — each driven through the real Worker and objects, with the clock
 * moved forward. Edge replays are off: the subject is how the objects arbitrate. Each test starts
 * in a registry of its own shard counts, so the tests do not meet each other's migrations.
 */

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const DAY_S = 86_400;
const HOUR_MS = 3_600_000;

/** Moves the clock of the Worker and its objects `ms` forward from where it is. */
function advance(ms: number): void {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + ms);
}

/** The `moved` markers the object holding `key` under `shards` keeps for it. */
async function markersOf(key: string, shards: number): Promise<number> {
  const { identity, stub } = await coordinatorOfKey(key, { shards });
  return runInDurableObject(
    stub,
    (_, state) =>
      state.storage.sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM moved WHERE identity = ?", identity)
        .one().n,
  );
}

describe("a migration that also lowers the longest TTL", () => {
  it("ends only once the records written under the old mapping's longer TTL have expired", async () => {
    const OLD = {
      IDEMPOTENCY_SHARDS: "3",
      IDEMPOTENCY_TTL_SECONDS: String(7 * DAY_S),
      ...EDGE_OFF,
    };
    // The new configuration drops the 7-day route: its longest TTL is one day.
    const NEW = {
      IDEMPOTENCY_SHARDS: "5",
      IDEMPOTENCY_SHARDS_PREVIOUS: "3",
      IDEMPOTENCY_TTL_SECONDS: String(DAY_S),
      ...EDGE_OFF,
    };
    const FINAL = { IDEMPOTENCY_SHARDS: "5", IDEMPOTENCY_TTL_SECONDS: String(DAY_S), ...EDGE_OFF };
    const stored = newKey();
    expect((await post("/v1/charges", stored, { vars: OLD })).status).toBe(201);
    expect((await post("/v1/charges", newKey(), { vars: NEW })).status).toBe(201);

    // One new TTL, the lease and a margin later: the 7-day record is still live in its old
    // object, which Workers with the new mapping alone would never consult.
    advance(DAY_S * 1000 + SIGHTING_VALID_MS + HOUR_MS);
    const early = await post("/v1/charges", stored, { vars: FINAL });
    expect(early.status).toBe(500);
    expect((await problemOf(early)).code).toBe("invalid-configuration");
    expect(await originRequests(stored)).toHaveLength(1);
    // Meanwhile the migrating Worker still replays it.
    const retry = await post("/v1/charges", stored, { vars: NEW });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");

    // Once the old TTL has passed, the migration may end.
    advance(6 * DAY_S * 1000);
    expect((await post("/v1/charges", newKey(), { vars: FINAL })).status).toBe(201);
    expect(await originRequests(stored)).toHaveLength(1);
  });
});

describe("a migration back to the previous mapping within a TTL", () => {
  it("does not meet the markers of the way out: the key is claimed once in its home, never a 500", async () => {
    const TTL = { IDEMPOTENCY_TTL_SECONDS: "3600", ...EDGE_OFF };
    const A = { IDEMPOTENCY_SHARDS: "6", ...TTL };
    const A_TO_B = { IDEMPOTENCY_SHARDS: "7", IDEMPOTENCY_SHARDS_PREVIOUS: "6", ...TTL };
    const B = { IDEMPOTENCY_SHARDS: "7", ...TTL };
    const B_TO_A = { IDEMPOTENCY_SHARDS: "6", IDEMPOTENCY_SHARDS_PREVIOUS: "7", ...TTL };
    expect((await post("/v1/charges", newKey(), { vars: A })).status).toBe(201);
    expect((await post("/v1/charges", newKey(), { vars: A_TO_B })).status).toBe(201);
    // A key first sent four minutes into A → B: the A object records that it went to B, and the
    // marker outlives the key's record in B by five minutes.
    advance(4 * 60_000);
    const key = newKey();
    expect((await post("/v1/charges", key, { vars: A_TO_B })).status).toBe(201);
    expect(await markersOf(key, 6)).toBe(1);

    // A → B may end one TTL and a lease after it began. Two minutes past that, the key's record in
    // B has expired, while A's marker is still live for three more minutes.
    advance(3_600_000 + SIGHTING_VALID_MS - 4 * 60_000 + 2 * 60_000);
    expect((await post("/v1/charges", newKey(), { vars: B })).status).toBe(201);
    // B → A begins at once: B arbitrates, holds nothing for the key, and sends it to A.
    const back = await post("/v1/charges", key, { vars: B_TO_A });
    expect(back.status).toBe(201);
    expect(back.headers.get(REPLAYED_HEADER)).toBeNull();
    // Forwarded a second time only because its first record had expired: once per TTL.
    expect(await originRequests(key)).toHaveLength(2);
    const retry = await post("/v1/charges", key, { vars: B_TO_A });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(2);
  });
});

describe("a migration no Worker of the old mapping alone serves any more", () => {
  const OLD = { IDEMPOTENCY_SHARDS: "9", ...EDGE_OFF };
  const NEW = { IDEMPOTENCY_SHARDS: "10", IDEMPOTENCY_SHARDS_PREVIOUS: "9", ...EDGE_OFF };

  it("stops writing markers in the old objects once drained, and refuses an old Worker from then on", async () => {
    expect((await post("/v1/charges", newKey(), { vars: OLD })).status).toBe(201);
    const before = newKey();
    expect((await post("/v1/charges", before, { vars: NEW })).status).toBe(201);
    expect(await markersOf(before, 9)).toBe(1);

    // No Worker with the old mapping alone for a verdict lease and the margin: drained.
    advance(SIGHTING_VALID_MS + DRAIN_MARGIN_MS + 1000);
    const after = newKey();
    const first = await post("/v1/charges", after, { vars: NEW });
    expect(first.status).toBe(201);
    expect(await markersOf(after, 9)).toBe(0);
    expect(
      await post("/v1/charges", after, { vars: NEW }).then((r) => r.headers.get(REPLAYED_HEADER)),
    ).toBe("true");

    // An old Worker now would claim the key in its old object, where nothing says it moved.
    const late = await post("/v1/charges", after, { vars: OLD });
    expect(late.status).toBe(500);
    expect((await problemOf(late)).code).toBe("invalid-configuration");
    expect(await originRequests(after)).toHaveLength(1);
  });
});
