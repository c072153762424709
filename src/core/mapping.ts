import { objectName } from "./object-name.ts";
import type { ScopeChange } from "./scope-change.ts";

/**
 * The key → object mapping as an explicit, named value, and the rules for changing it while old
 * and new versions of the Worker serve side by side (docs/adr/0006). Pure: no I/O, `now` passed in.
 *
 * A mapping is named by the hash version of the key identity, the shard count and the placement
 * of its objects (jurisdiction and location hint). Every change of the name re-homes keys, so a
 * change is only accepted as a migration: for at least one TTL the Worker reaches each key
 * through its object under the *previous* mapping, which arbitrates (it keeps the keys it holds,
 * and sends every other key to the new mapping, remembering that it did). A registry (one object
 * per namespace) records which mappings are in use and refuses any configuration that could let
 * two versions place one key in two objects.
 */

/** The encoding of the key identity and its object name: part of every mapping's name. */
export const MAPPING_VERSION = "v1";

/**
 * The jurisdictions coordinators may be restricted to: they then run and store answers only
 * there (Cloudflare docs, "Durable Objects: Data location"; the values of the runtime's
 * `DurableObjectJurisdiction`).
 */
export const JURISDICTIONS = [
  "eu",
  "fedramp",
  "fedramp-high",
  "us",
] as const satisfies readonly DurableObjectJurisdiction[];

/**
 * The location hints a new coordinator may be created near (Cloudflare docs, "Durable Objects:
 * Data location", "Provide a location hint"; the values of the runtime's
 * `DurableObjectLocationHint`). A hint is best effort, and only the first `get` of an object
 * applies it: an object never moves once created.
 */
export const LOCATION_HINTS = [
  "wnam",
  "enam",
  "sam",
  "weur",
  "eeur",
  "apac",
  "apac-ne",
  "apac-se",
  "oc",
  "afr",
  "me",
] as const satisfies readonly DurableObjectLocationHint[];

/** Where a mapping's coordinators live: part of the mapping. */
export interface Placement {
  /** Where new coordinators are created; `null`: near the first request that reaches them. */
  readonly locationHint: DurableObjectLocationHint | null;
  /** The jurisdiction they are restricted to; `null`: none. */
  readonly jurisdiction: DurableObjectJurisdiction | null;
}

/** A key → object mapping: how many objects, and where they live. */
export interface Mapping extends Placement {
  /** `0`: one object per key; `N`: keys hashed over N objects. */
  readonly shards: number;
}

/** Placement of the objects when neither a hint nor a jurisdiction is set. */
export const NO_PLACEMENT: Placement = Object.freeze({ locationHint: null, jurisdiction: null });

/**
 * The name of the mapping for a shard count with no placement, e.g. `"v1/shards=64"`: the name
 * earlier versions reported, so a deployment that sets no placement re-homes nothing.
 *
 * @example
 * mappingName(64); // "v1/shards=64"
 */
export function mappingName(shards: number): string {
  return `${MAPPING_VERSION}/shards=${shards}`;
}

/**
 * The name of a mapping, placement included, e.g. `"v1/shards=64/jurisdiction=eu/hint=weur"`.
 *
 * @example
 * nameOfMapping({ shards: 64, locationHint: "enam", jurisdiction: null }); // "v1/shards=64/hint=enam"
 */
export function nameOfMapping(mapping: Mapping): string {
  const jurisdiction = mapping.jurisdiction === null ? "" : `/jurisdiction=${mapping.jurisdiction}`;
  const hint = mapping.locationHint === null ? "" : `/hint=${mapping.locationHint}`;
  return `${mappingName(mapping.shards)}${jurisdiction}${hint}`;
}

const MAPPING_NAME =
  /^v1\/shards=(0|[1-9]\d{0,3})(?:\/jurisdiction=([a-z-]+))?(?:\/hint=([a-z-]+))?$/;

/**
 * The mapping a name stands for (the inverse of `mappingName`), or `null` for anything that is
 * not the name of a mapping of this encoding version.
 *
 * @example
 * parseMappingName("v1/shards=8/hint=weur"); // { shards: 8, locationHint: "weur", jurisdiction: null }
 */
export function parseMappingName(name: string): Mapping | null {
  const match = MAPPING_NAME.exec(name);
  if (match === null) return null;
  const shards = Number(match[1]);
  const jurisdiction = oneOf(JURISDICTIONS, match[2]);
  const locationHint = oneOf(LOCATION_HINTS, match[3]);
  if (shards > 4096 || jurisdiction === undefined || locationHint === undefined) return null;
  return { shards, locationHint, jurisdiction };
}

/** `value` if it is one of `allowed`, `null` if absent, `undefined` if it is something else. */
function oneOf<T extends string>(
  allowed: readonly T[],
  value: string | undefined,
): T | null | undefined {
  if (value === undefined) return null;
  return allowed.find((item) => item === value);
}

/**
 * The address of the object that owns `identity` under `mapping`: its name, prefixed by its
 * jurisdiction (`eu:…`) when it has one. A location hint is part of the name (`shard-3-of-64@enam`):
 * an object never moves once created, so placing keys elsewhere needs new objects, hence new
 * names. Without a placement the address is `objectName`'s name, unchanged.
 *
 * @example
 * objectAddress(identity, { shards: 64, locationHint: "enam", jurisdiction: "eu" }); // "eu:shard-17-of-64@enam"
 */
export function objectAddress(identity: string, mapping: Mapping): string {
  const base = objectName(identity, mapping.shards);
  const name = mapping.locationHint === null ? base : `${base}@${mapping.locationHint}`;
  return mapping.jurisdiction === null ? name : `${mapping.jurisdiction}:${name}`;
}

/** An object address, taken apart: how to reach the object. */
export interface ObjectLocation extends Placement {
  /** The object's name within its (jurisdiction's) namespace. */
  readonly name: string;
}

/**
 * Takes an address (`objectAddress`, or a plain name from a version without placements) apart.
 *
 * @example
 * locateAddress("eu:shard-1-of-8@weur"); // { jurisdiction: "eu", name: "shard-1-of-8@weur", locationHint: "weur" }
 */
export function locateAddress(address: string): ObjectLocation {
  const colon = address.indexOf(":");
  const jurisdiction = colon < 0 ? null : (oneOf(JURISDICTIONS, address.slice(0, colon)) ?? null);
  const name = jurisdiction === null ? address : address.slice(colon + 1);
  const at = name.lastIndexOf("@");
  const locationHint = at < 0 ? null : (oneOf(LOCATION_HINTS, name.slice(at + 1)) ?? null);
  return { jurisdiction, name, locationHint };
}

/** The mapping settings of one configuration (a subset of the parsed configuration). */
export interface MappingSettings extends Placement {
  readonly shards: number;
  /** `IDEMPOTENCY_SHARDS_PREVIOUS`: the previous shard count, the placement unchanged. */
  readonly previousShards: number | null;
  /** `IDEMPOTENCY_MAPPING_PREVIOUS`: the previous mapping, whatever changed. */
  readonly previousMapping: Mapping | null;
}

/**
 * The mapping new keys go to, and the one being migrated away from (or `null`).
 *
 * @example
 * mappingsOf({ shards: 8, previousShards: 4, previousMapping: null, ...NO_PLACEMENT }).previous?.shards; // 4
 */
export function mappingsOf(settings: MappingSettings): {
  current: Mapping;
  previous: Mapping | null;
} {
  const current: Mapping = {
    shards: settings.shards,
    locationHint: settings.locationHint,
    jurisdiction: settings.jurisdiction,
  };
  if (settings.previousMapping !== null) return { current, previous: settings.previousMapping };
  if (settings.previousShards !== null) {
    return { current, previous: { ...current, shards: settings.previousShards } };
  }
  return { current, previous: null };
}

/**
 * Why a configuration's mapping settings contradict each other, or `null`: a previous mapping
 * must differ from the current one, and may be given one way only.
 */
export function mappingSettingsError(
  settings: MappingSettings,
): { variable: string; detail: string } | null {
  if (settings.previousMapping !== null && settings.previousShards !== null) {
    return {
      variable: "IDEMPOTENCY_MAPPING_PREVIOUS",
      detail:
        "must not be set together with IDEMPOTENCY_SHARDS_PREVIOUS: name the previous mapping one way",
    };
  }
  const { current, previous } = mappingsOf(settings);
  if (settings.previousMapping !== null && previous !== null && sameMapping(current, previous)) {
    return {
      variable: "IDEMPOTENCY_MAPPING_PREVIOUS",
      detail: `must differ from the current mapping ${nameOfMapping(current)} (set it to "" once the migration is over)`,
    };
  }
  return null;
}

function sameMapping(a: Mapping, b: Mapping): boolean {
  return nameOfMapping(a) === nameOfMapping(b);
}

/** What one Worker configuration declares about the mapping. */
export interface MappingReport {
  /** The mapping new keys are written under. */
  current: string;
  /** The mapping being migrated away from, or `null`. */
  previous: string | null;
  /** The longest TTL of the configuration (global or any route), in ms. */
  ttlMs: number;
  /** Its scope headers (`scopeName`); absent in reports of older Workers, which are not checked. */
  scope?: string;
  /** During a change of the scope headers: the list being left (`scopeName`). */
  previousScope?: string | null;
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
  /**
   * The longest TTL any Worker reported for the mapping keys are written under, kept through a
   * migration: records written under the mapping being retired live that long (ms).
   */
  ttlMs: number;
  /**
   * During a migration: when the registry found that no Worker knowing only `previous` could
   * still claim a key (none seen for a verdict lease and a margin). From then on such Workers are
   * refused, so the previous mapping's objects stop writing `moved` markers (docs/adr/0006).
   * Absent in states written before it existed.
   */
  drainedAt?: number | null;
  /** The scope headers keys are identified by (`scopeName`; docs/operations.md). */
  scope?: string | null;
  /** An explicit change of the scope headers under way (`decideScope`). */
  scopeChange?: ScopeChange | null;
}

/**
 * How long after the last sighting of a Worker that knows only the previous mapping the registry
 * waits, beyond the verdict lease, before it declares that no such Worker remains: the clocks of
 * the objects that hold verdicts and of the registry differ.
 */
export const DRAIN_MARGIN_MS = 60_000;

/**
 * The name a migration's `moved` markers carry, e.g. `"v1/shards=64->v1/shards=128"`: a marker
 * only redirects Workers of the migration that wrote it (docs/adr/0006).
 *
 * @example
 * migrationName({ current: "v1/shards=128", previous: "v1/shards=64", ttlMs: 1 }); // "v1/shards=64->v1/shards=128"
 */
export function migrationName(report: MappingReport): string | null {
  return report.previous === null ? null : `${report.previous}->${report.current}`;
}

/**
 * Whether the registry's `state` says that no Worker knowing only `report.previous` can still
 * claim a key: the migration `report` declares has drained (or is over). Once true it stays true,
 * since such Workers are refused from then on.
 *
 * @example
 * isDrained({ ...state, previous: "v1/shards=64", current: "v1/shards=128", drainedAt: 1 }, report); // true
 */
export function isDrained(state: MappingState, report: MappingReport): boolean {
  if (report.previous === null || state.current !== report.current) return false;
  if (state.previous === null) return true;
  return state.previous === report.previous && (state.drainedAt ?? null) !== null;
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
 *   both route every key through its `A` object, which arbitrates: both are accepted, until no
 *   Worker with `A` alone has been seen for `heartbeatMs` and `DRAIN_MARGIN_MS`. Then the
 *   migration has drained: Workers with `A` alone are refused from then on, so the `A` objects
 *   need no longer record where they send keys (they stop writing).
 * - The TTL kept is the longest any Worker reported for the mapping, before and during the
 *   migration: records written under `A` live that long.
 * - `B` alone ends the migration, but only once no record written under `A` can still be live:
 *   one TTL after the migration began and after the last Worker with `A` alone was seen.
 * - After the end, a Worker with `A` alone would write keys where `B` Workers never look: refused.
 *   One with `A → B` still routes through `A`, which holds nothing but redirects: accepted.
 * - Any other mapping is a change without a migration: refused.
 *
 * @param heartbeatMs - how long after its last report a mapping may still be used to claim keys
 *   (the objects' lease on a verdict: docs/adr/0009); a Worker with `A` alone may have been
 *   claiming that long without being seen
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
  // Records live as long as the longest TTL ever reported for the mapping they were written
  // under: a deploy that lowers it (drops a long-lived route) must not shorten a migration.
  const longest = Math.max(state.ttlMs, ttlMs);
  if (state.previous === null) {
    if (previous === null && current === state.current) {
      return longest === state.ttlMs
        ? { ok: true, state }
        : { ok: true, state: { ...state, ttlMs: longest } };
    }
    if (previous === state.current) {
      // A → B begins.
      return {
        ok: true,
        state: {
          current,
          previous,
          migrationStartedAt: now,
          previousOnlySeenAt: now,
          ttlMs: longest,
          drainedAt: null,
        },
      };
    }
    if (previous !== null && current === state.current) {
      // A late Worker of a finished migration: it routes through its previous objects, which
      // hold no live record any more and redirect every key here.
      return { ok: true, state };
    }
    return refuse(state.current, state.current, report);
  }
  // A migration state.previous → state.current is under way.
  const drainedAt = state.drainedAt ?? null;
  if (previous === state.previous && current === state.current) {
    const lastSeen = state.previousOnlySeenAt ?? state.migrationStartedAt ?? now;
    const drained = drainedAt ?? (now >= lastSeen + heartbeatMs + DRAIN_MARGIN_MS ? now : null);
    return { ok: true, state: { ...state, ttlMs: longest, drainedAt: drained } };
  }
  if (previous === null && current === state.previous) {
    if (drainedAt !== null) {
      // The previous objects no longer record where they send keys: a Worker that knows only
      // them would claim a key another Worker stored in the new mapping.
      return {
        ok: false,
        variable: previousVariable(state.previous, state.current),
        detail: `keys now go to ${state.current} (the migration from ${state.previous} has drained): deploy the configuration with ${state.current} and ${state.previous} as its previous mapping, not ${state.previous} alone`,
      };
    }
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
          drainedAt: null,
        },
      };
    }
    return {
      ok: false,
      variable: previousVariable(state.previous, state.current),
      detail: `keys may still be live under ${state.previous}: keep it set until ${new Date(safeAt).toISOString()} (one TTL after the migration began and after the last Worker without it was seen)`,
    };
  }
  return refuse(`${state.previous} → ${state.current} (a migration)`, state.current, report);
}

/**
 * @param stored - what the registry holds, as shown to the operator
 * @param storedCurrent - the mapping keys are written under now, which a migration must name
 */
function refuse(stored: string, storedCurrent: string, report: MappingReport): MappingVerdict {
  const declared =
    report.previous === null ? report.current : `${report.previous} → ${report.current}`;
  return {
    ok: false,
    variable: changedVariable(storedCurrent, report.current),
    detail: `declares the key mapping ${declared}, but keys are stored under ${stored}; change the mapping only by migration (docs/adr/0006): set IDEMPOTENCY_MAPPING_PREVIOUS=${storedCurrent} (or, for a shard count alone, IDEMPOTENCY_SHARDS_PREVIOUS to the old count) for one TTL`,
  };
}

/** The setting that changed between two mappings, for the operator: the first that differs. */
function changedVariable(from: string, to: string): string {
  const a = parseMappingName(from);
  const b = parseMappingName(to);
  if (a === null || b === null || a.shards !== b.shards) return "IDEMPOTENCY_SHARDS";
  if (a.jurisdiction !== b.jurisdiction) return "IDEMPOTENCY_JURISDICTION";
  if (a.locationHint !== b.locationHint) return "IDEMPOTENCY_LOCATION_HINT";
  return "IDEMPOTENCY_SHARDS";
}

/** The variable that declares a migration from `previous` to `current`. */
function previousVariable(previous: string, current: string): string {
  const a = parseMappingName(previous);
  const b = parseMappingName(current);
  const shardsAlone =
    a !== null &&
    b !== null &&
    a.jurisdiction === b.jurisdiction &&
    a.locationHint === b.locationHint;
  return shardsAlone ? "IDEMPOTENCY_SHARDS_PREVIOUS" : "IDEMPOTENCY_MAPPING_PREVIOUS";
}
