import { describe, expect, it } from "vitest";
import {
  DRAIN_MARGIN_MS,
  decideMapping,
  isDrained,
  migrationName,
  locateAddress,
  mappingName,
  mappingSettingsError,
  mappingsOf,
  nameOfMapping,
  objectAddress,
  parseMappingName,
  type MappingState,
} from "../../../src/core/mapping";

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
  drainedAt: null,
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
    expect(decideMapping(state, report, safeAt, HEARTBEAT)).toEqual({
      ok: true,
      state: { ...steady(B), drainedAt: null },
    });
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

  it("keeps the longest TTL ever reported for the mapping, so a migration that also lowers it waits for the old records", () => {
    // Steady state under A: a Worker with a 7-day route reports; the registry keeps 7 days.
    const seen = decideMapping(
      steady(A),
      { current: A, previous: null, ttlMs: 7 * DAY },
      T0,
      HEARTBEAT,
    );
    expect(seen).toMatchObject({ ok: true, state: { ttlMs: 7 * DAY } });
    if (!seen.ok) throw new Error("accepted above");
    // The migration's configuration dropped that route: it reports one day.
    const started = decideMapping(
      seen.state,
      { current: B, previous: A, ttlMs: DAY },
      T0,
      HEARTBEAT,
    );
    expect(started).toMatchObject({ ok: true, state: { ttlMs: 7 * DAY } });
    if (!started.ok) throw new Error("accepted above");
    const ending = { current: B, previous: null, ttlMs: DAY };
    // Records written under A with the 7-day TTL are live for a week: ending after a day would
    // send their retries to objects that never saw them.
    expect(decideMapping(started.state, ending, T0 + HEARTBEAT + DAY, HEARTBEAT).ok).toBe(false);
    expect(decideMapping(started.state, ending, T0 + HEARTBEAT + 7 * DAY, HEARTBEAT).ok).toBe(true);
  });

  it("declares the migration drained once no old Worker was seen for a heartbeat and a margin, and refuses old Workers from then on", () => {
    const next = { current: B, previous: A, ttlMs: DAY };
    const old = { current: A, previous: null, ttlMs: DAY };
    const due = T0 + HEARTBEAT + DRAIN_MARGIN_MS;
    const early = decideMapping(migrating, next, due - 1, HEARTBEAT);
    expect(early).toMatchObject({ ok: true, state: { drainedAt: null } });
    const drained = decideMapping(migrating, next, due, HEARTBEAT);
    expect(drained).toMatchObject({ ok: true, state: { drainedAt: due } });
    if (!drained.ok) throw new Error("accepted above");
    expect(decideMapping(migrating, old, due, HEARTBEAT).ok).toBe(true);
    expect(decideMapping(drained.state, old, due + 1, HEARTBEAT)).toMatchObject({
      ok: false,
      variable: "IDEMPOTENCY_SHARDS_PREVIOUS",
    });
    // Drained stays drained, and the migration still ends one TTL after the last old Worker.
    expect(decideMapping(drained.state, next, due + 1, HEARTBEAT)).toMatchObject({
      ok: true,
      state: { drainedAt: due },
    });
  });

  it("calls a migration drained only for its own Workers, and a finished one drained for its stragglers", () => {
    const next = { current: B, previous: A, ttlMs: DAY };
    expect(isDrained({ ...migrating, drainedAt: T0 }, next)).toBe(true);
    expect(isDrained(migrating, next)).toBe(false);
    expect(
      isDrained({ ...migrating, drainedAt: T0 }, { current: A, previous: null, ttlMs: DAY }),
    ).toBe(false);
    expect(
      isDrained({ ...migrating, drainedAt: T0 }, { current: C, previous: A, ttlMs: DAY }),
    ).toBe(false);
    expect(isDrained(steady(B), next)).toBe(true);
    expect(isDrained(steady(A), next)).toBe(false);
    expect(migrationName(next)).toBe("v1/shards=4->v1/shards=8");
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

describe("the key mapping's placement (location hint, jurisdiction)", () => {
  const IDENTITY = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea";
  const NONE = { locationHint: null, jurisdiction: null } as const;

  it("names a mapping by its shard count, then its jurisdiction and location hint", () => {
    expect(nameOfMapping({ shards: 64, ...NONE })).toBe("v1/shards=64");
    expect(nameOfMapping({ shards: 64, locationHint: "enam", jurisdiction: null })).toBe(
      "v1/shards=64/hint=enam",
    );
    expect(nameOfMapping({ shards: 0, locationHint: "weur", jurisdiction: "eu" })).toBe(
      "v1/shards=0/jurisdiction=eu/hint=weur",
    );
  });

  it("reads every name it writes back as the same mapping, and nothing else", () => {
    for (const mapping of [
      { shards: 64, ...NONE },
      { shards: 8, locationHint: "apac-ne", jurisdiction: null },
      { shards: 4096, locationHint: null, jurisdiction: "fedramp-high" },
      { shards: 0, locationHint: "oc", jurisdiction: "us" },
    ] as const) {
      expect(parseMappingName(nameOfMapping(mapping))).toEqual(mapping);
    }
    for (const name of [
      "v2/shards=64",
      "v1/shards=064",
      "v1/shards=4097",
      "v1/shards=8/hint=mars",
      "v1/shards=8/jurisdiction=de",
      "v1/shards=8/hint=enam/jurisdiction=eu",
      "v1/shards=8/",
    ]) {
      expect(parseMappingName(name), name).toBeNull();
    }
  });

  it("puts a key in an object named by the hint and addressed in the jurisdiction", () => {
    const plain = objectAddress(IDENTITY, { shards: 64, ...NONE });
    expect(plain).toMatch(/^shard-\d+-of-64$/);
    const placed = objectAddress(IDENTITY, {
      shards: 64,
      locationHint: "enam",
      jurisdiction: "eu",
    });
    expect(placed).toBe(`eu:${plain}@enam`);
    expect(locateAddress(placed)).toEqual({
      jurisdiction: "eu",
      name: `${plain}@enam`,
      locationHint: "enam",
    });
    expect(locateAddress(plain)).toEqual({ jurisdiction: null, name: plain, locationHint: null });
  });

  it("gives a key a new object when only its hint or jurisdiction changes (objects never move)", () => {
    const a = objectAddress(IDENTITY, { shards: 64, ...NONE });
    const b = objectAddress(IDENTITY, { shards: 64, locationHint: "weur", jurisdiction: null });
    const c = objectAddress(IDENTITY, { shards: 64, locationHint: null, jurisdiction: "eu" });
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it("takes the previous mapping from IDEMPOTENCY_MAPPING_PREVIOUS, or the shard count alone", () => {
    const current = { shards: 8, locationHint: "enam", jurisdiction: null } as const;
    expect(mappingsOf({ ...current, previousShards: 4, previousMapping: null }).previous).toEqual({
      ...current,
      shards: 4,
    });
    const previous = { shards: 8, ...NONE };
    expect(
      mappingsOf({ ...current, previousShards: null, previousMapping: previous }).previous,
    ).toBe(previous);
    expect(
      mappingsOf({ ...current, previousShards: null, previousMapping: null }).previous,
    ).toBeNull();
  });

  it("refuses a previous mapping given both ways, or equal to the current one", () => {
    const current = { shards: 8, ...NONE };
    expect(
      mappingSettingsError({
        ...current,
        previousShards: 4,
        previousMapping: { shards: 4, ...NONE },
      }),
    ).toMatchObject({ variable: "IDEMPOTENCY_MAPPING_PREVIOUS" });
    expect(
      mappingSettingsError({ ...current, previousShards: null, previousMapping: current }),
    ).toMatchObject({ variable: "IDEMPOTENCY_MAPPING_PREVIOUS" });
    expect(
      mappingSettingsError({
        ...current,
        previousShards: null,
        previousMapping: { ...current, locationHint: "weur" },
      }),
    ).toBeNull();
  });

  it("refuses a location hint or jurisdiction changed without a migration, naming that setting", () => {
    const stored = steady(nameOfMapping({ shards: 64, ...NONE }));
    const hinted = nameOfMapping({ shards: 64, locationHint: "enam", jurisdiction: null });
    const fenced = nameOfMapping({ shards: 64, locationHint: null, jurisdiction: "eu" });
    const hint = decideMapping(
      stored,
      { current: hinted, previous: null, ttlMs: DAY },
      T0,
      HEARTBEAT,
    );
    expect(hint).toMatchObject({ ok: false, variable: "IDEMPOTENCY_LOCATION_HINT" });
    if (!hint.ok) expect(hint.detail).toContain("IDEMPOTENCY_MAPPING_PREVIOUS=v1/shards=64");
    expect(
      decideMapping(stored, { current: fenced, previous: null, ttlMs: DAY }, T0, HEARTBEAT),
    ).toMatchObject({ ok: false, variable: "IDEMPOTENCY_JURISDICTION" });
  });

  it("accepts a hint change made by migration, and keeps IDEMPOTENCY_MAPPING_PREVIOUS until it is safe", () => {
    const from = nameOfMapping({ shards: 64, ...NONE });
    const to = nameOfMapping({ shards: 64, locationHint: "enam", jurisdiction: null });
    const started = decideMapping(
      steady(from),
      { current: to, previous: from, ttlMs: DAY },
      T0,
      HEARTBEAT,
    );
    if (!started.ok) throw new Error("the migration must start");
    const early = decideMapping(
      started.state,
      { current: to, previous: null, ttlMs: DAY },
      T0 + 1,
      HEARTBEAT,
    );
    expect(early).toMatchObject({ ok: false, variable: "IDEMPOTENCY_MAPPING_PREVIOUS" });
    const late = decideMapping(
      started.state,
      { current: to, previous: null, ttlMs: DAY },
      T0 + HEARTBEAT + DAY,
      HEARTBEAT,
    );
    expect(late).toEqual({ ok: true, state: { ...steady(to), drainedAt: null } });
  });
});
