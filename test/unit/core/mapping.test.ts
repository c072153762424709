import { describe, expect, it } from "vitest";
import { decideMapping, mappingName, type MappingState } from "../../../src/core/mapping";

const A = mappingName(4);
const B = mappingName(8);
const C = mappingName(16);
const DAY = 86_400_000;
const HEARTBEAT = 60_000;
const T0 = 1_800_000_000_000;

const steady = (current: string): MappingState => ({
  current,
  previous: null,
  migrationStartedAt: null,
  previousOnlySeenAt: null,
  ttlMs: DAY,
});

const migrating: MappingState = {
  current: B,
  previous: A,
  migrationStartedAt: T0,
  previousOnlySeenAt: T0,
  ttlMs: DAY,
};

describe("the key mapping registry", () => {
  it("names a mapping by its encoding version and shard count", () => {
    expect(mappingName(64)).toBe("v1/shards=64");
    expect(mappingName(0)).toBe("v1/shards=0");
  });

  it("records the first mapping it hears of", () => {
    const verdict = decideMapping(null, { current: A, previous: null, ttlMs: DAY }, T0, HEARTBEAT);
    expect(verdict).toEqual({ ok: true, state: steady(A) });
  });

  it("accepts the mapping it holds, unchanged", () => {
    const state = steady(A);
    const verdict = decideMapping(state, { current: A, previous: null, ttlMs: DAY }, T0, HEARTBEAT);
    expect(verdict).toEqual({ ok: true, state });
  });

  it("refuses another mapping without a migration, naming IDEMPOTENCY_SHARDS", () => {
    const verdict = decideMapping(
      steady(A),
      { current: B, previous: null, ttlMs: DAY },
      T0,
      HEARTBEAT,
    );
    expect(verdict).toMatchObject({ ok: false, variable: "IDEMPOTENCY_SHARDS" });
  });

  it("starts a migration from the mapping it holds", () => {
    const verdict = decideMapping(
      steady(A),
      { current: B, previous: A, ttlMs: DAY },
      T0,
      HEARTBEAT,
    );
    expect(verdict).toEqual({ ok: true, state: migrating });
  });

  it("does NOT start a migration from a mapping it does not hold", () => {
    const verdict = decideMapping(
      steady(A),
      { current: C, previous: B, ttlMs: DAY },
      T0,
      HEARTBEAT,
    );
    expect(verdict.ok).toBe(false);
  });

  it("accepts old and migrating Workers side by side, and remembers when an old one was seen", () => {
    const old = decideMapping(
      migrating,
      { current: A, previous: null, ttlMs: DAY },
      T0 + 5,
      HEARTBEAT,
    );
    expect(old).toMatchObject({ ok: true, state: { previousOnlySeenAt: T0 + 5 } });
    const next = decideMapping(
      migrating,
      { current: B, previous: A, ttlMs: DAY },
      T0 + 5,
      HEARTBEAT,
    );
    expect(next.ok).toBe(true);
  });

  it("refuses to end the migration until one TTL and one heartbeat after the last old Worker", () => {
    const report = { current: B, previous: null, ttlMs: DAY };
    const state = { ...migrating, previousOnlySeenAt: T0 + 1000 };
    const safeAt = T0 + 1000 + HEARTBEAT + DAY;
    expect(decideMapping(state, report, safeAt - 1, HEARTBEAT)).toMatchObject({
      ok: false,
      variable: "IDEMPOTENCY_SHARDS_PREVIOUS",
    });
    expect(decideMapping(state, report, safeAt, HEARTBEAT)).toEqual({ ok: true, state: steady(B) });
  });

  it("waits for the longest TTL any Worker reported, not the ending Worker's", () => {
    const state = { ...migrating, ttlMs: 7 * DAY };
    const report = { current: B, previous: null, ttlMs: DAY };
    expect(decideMapping(state, report, T0 + HEARTBEAT + DAY, HEARTBEAT).ok).toBe(false);
    expect(decideMapping(state, report, T0 + HEARTBEAT + 7 * DAY, HEARTBEAT).ok).toBe(true);
  });

  it("refuses an old Worker once the migration is over, but accepts a migrating straggler", () => {
    expect(
      decideMapping(steady(B), { current: A, previous: null, ttlMs: DAY }, T0, HEARTBEAT).ok,
    ).toBe(false);
    expect(
      decideMapping(steady(B), { current: B, previous: A, ttlMs: DAY }, T0, HEARTBEAT).ok,
    ).toBe(true);
  });

  it("refuses a second migration while one is under way", () => {
    expect(
      decideMapping(migrating, { current: C, previous: B, ttlMs: DAY }, T0, HEARTBEAT).ok,
    ).toBe(false);
    expect(
      decideMapping(migrating, { current: C, previous: A, ttlMs: DAY }, T0, HEARTBEAT).ok,
    ).toBe(false);
  });
});
