/**
 * The key → object mapping as an explicit, named value, and the rules for changing it while old
 * and new versions of the Worker serve side by side (docs/adr/0006). Pure: no I/O, `now` passed in.
 *
 * A mapping is named by the hash version of the key identity and the shard count. Every change
 * of the name re-homes keys, so a change is only accepted as a migration: for at least one TTL the
 * Worker reaches each key through its object under the *previous* mapping, which arbitrates
 * (it keeps the keys it holds, and sends every other key to the new mapping, remembering that it
 * did). A registry (one object per namespace) records which mappings are in use and refuses any
 * configuration that could let two versions place one key in two objects.
 */

/** The encoding of the key identity and its object name: part of every mapping's name. */
export const MAPPING_VERSION = "v1";

/**
 * The name of the mapping for a shard count, e.g. `"v1/shards=64"`.
 *
 * @example
 * mappingName(64); // "v1/shards=64"
 */
export function mappingName(shards: number): string {
  return `${MAPPING_VERSION}/shards=${shards}`;
}

/** What one Worker configuration declares about the mapping. */
export interface MappingReport {
  /** The mapping new keys are written under. */
  current: string;
  /** The mapping being migrated away from, or `null`. */
  previous: string | null;
  /** The longest TTL of the configuration (global or any route), in ms. */
  ttlMs: number;
}

/** What the registry remembers. `null` before the first Worker reports. */
export interface MappingState {
  /** The mapping keys are (or, during a migration, will be) written under. */
  current: string;
  /** During a migration: the mapping being left. */
  previous: string | null;
  /** When the migration was first reported (ms). */
  migrationStartedAt: number | null;
  /** The last time a Worker that knows only `previous` reported (ms). */
  previousOnlySeenAt: number | null;
  /** The longest TTL any Worker reported since the migration began (ms). */
  ttlMs: number;
}

/** The registry's verdict on a report. */
export type MappingVerdict =
  { ok: true; state: MappingState } | { ok: false; variable: string; detail: string };

/**
 * Decides whether a configuration may serve, given what the registry knows, and what the
 * registry knows afterwards.
 *
 * - `A` alone, registry at `A`: steady state.
 * - `A` → `B` (current `B`, previous `A`), registry at `A`: starts a migration.
 * - During the migration `A → B`, Workers with `A` alone (not yet redeployed) and with `A → B`
 *   both route every key through its `A` object, which arbitrates: both are accepted.
 * - `B` alone ends the migration, but only once no record written under `A` can still be live:
 *   one TTL after the migration began and after the last Worker with `A` alone was seen.
 * - After the end, a Worker with `A` alone would write keys where `B` Workers never look: refused.
 *   One with `A → B` still routes through `A`, which holds nothing but redirects: accepted.
 * - Any other mapping is a change without a migration: refused.
 *
 * @param heartbeatMs - how often a running Worker reports again; a Worker with `A` alone may have
 *   been running that long without being seen
 */
export function decideMapping(
  state: MappingState | null,
  report: MappingReport,
  now: number,
  heartbeatMs: number,
): MappingVerdict {
  const { current, previous, ttlMs } = report;
  if (state === null) {
    return {
      ok: true,
      state: {
        current,
        previous,
        migrationStartedAt: previous === null ? null : now,
        previousOnlySeenAt: null,
        ttlMs,
      },
    };
  }
  const longest = Math.max(state.ttlMs, ttlMs);
  if (state.previous === null) {
    if (previous === null && current === state.current) return { ok: true, state };
    if (previous === state.current) {
      // A → B begins.
      return {
        ok: true,
        state: { current, previous, migrationStartedAt: now, previousOnlySeenAt: now, ttlMs },
      };
    }
    if (previous !== null && current === state.current) {
      // A late Worker of a finished migration: it routes through its previous objects, which
      // hold no live record any more and redirect every key here.
      return { ok: true, state };
    }
    return refuse(state.current, report);
  }
  // A migration state.previous → state.current is under way.
  if (previous === state.previous && current === state.current) {
    return { ok: true, state: { ...state, ttlMs: longest } };
  }
  if (previous === null && current === state.previous) {
    // Not yet redeployed: it still goes to the previous objects, which arbitrate.
    return { ok: true, state: { ...state, previousOnlySeenAt: now, ttlMs: longest } };
  }
  if (previous === null && current === state.current) {
    const since = Math.max(state.migrationStartedAt ?? now, state.previousOnlySeenAt ?? 0);
    const safeAt = since + heartbeatMs + longest;
    if (now >= safeAt) {
      return {
        ok: true,
        state: {
          current,
          previous: null,
          migrationStartedAt: null,
          previousOnlySeenAt: null,
          ttlMs: longest,
        },
      };
    }
    return {
      ok: false,
      variable: "IDEMPOTENCY_SHARDS_PREVIOUS",
      detail: `keys may still be live under ${state.previous}: keep it set until ${new Date(safeAt).toISOString()} (one TTL after the migration began and after the last Worker without it was seen)`,
    };
  }
  return refuse(`${state.previous} → ${state.current} (a migration)`, report);
}

function refuse(stored: string, report: MappingReport): MappingVerdict {
  const declared =
    report.previous === null ? report.current : `${report.previous} → ${report.current}`;
  return {
    ok: false,
    variable: "IDEMPOTENCY_SHARDS",
    detail: `declares the key mapping ${declared}, but keys are stored under ${stored}; change the mapping only by migration (docs/adr/0006): set IDEMPOTENCY_SHARDS_PREVIOUS to the old shard count for one TTL`,
  };
}
