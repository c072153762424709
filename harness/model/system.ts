import { claim, decide, reclaim, type KeyRecord, type Reforward } from "../../src/core/record.ts";
import {
  NO_PLACEMENT,
  decideMapping,
  isDrained,
  mappingsOf,
  migrationName,
  nameOfMapping,
  objectAddress,
  type MappingReport,
  type MappingState,
  type MappingVerdict,
} from "../../src/core/mapping.ts";
import { MOVED_MARGIN_MS, markerApplies, markerScope } from "../../src/coordinator/moved-keys.ts";
import { VERDICT_LEASE_MS, VERDICT_REFRESH_MS } from "../../src/coordinator/mapping-verdicts.ts";
import { SIGHTING_VALID_MS } from "../../src/coordinator/mapping-registry.ts";
import { decideScope, isScopeDrained } from "../../src/core/scope-change.ts";

/**
 * A model of the whole exactly-once protocol, for the model-based test (test/README.md, "Exactly
 * once across operations"): Workers of several configurations, the objects of two key mappings,
 * the mapping registry, the objects' kept verdicts, crashes that leave a record in flight, lease
 * expiry, purges and re-forwards. Every decision is the product's own pure code — `decide`,
 * `claim`, `reclaim` (records), `decideMapping`, `isDrained`, `decideScope` and `isScopeDrained`
 * (the registry: key mappings and scope headers), `markerScope` and
 * `markerApplies` (moved markers), `objectAddress` (placement) — and only the plumbing around them
 * (storage, RPC, the clock) is modelled: an origin call happens within one step, so nothing is in
 * memory between steps, and edge replays are off (their agreement with purges is tested on its
 * own, docs/adr/0008).
 *
 * The invariant, checked at every arrival at the origin: a key reaches the origin again only
 * when no earlier execution of it can still be answered from a live record — its record expired,
 * or an operator purged it — or as a re-forward the origin deduplicates (inside its key window).
 * A second invariant: a command the registry accepted is never redirected twice (that is a `500`
 * on every retry).
 */

/** The registry's rules: the product's `decideMapping`, or a variant to show what the test finds. */
export type RegistryRules = typeof decideMapping;

/** One Worker configuration: its key mapping, its longest TTL, and its rule for unknown outcomes. */
export interface WorkerConfig {
  readonly name: string;
  readonly shards: number;
  readonly previousShards: number | null;
  readonly ttlMs: number;
  readonly reforward: Reforward | null;
  /** `IDEMPOTENCY_SCOPE_HEADERS`, and `IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS` during a change. */
  readonly scope: string;
  readonly previousScope: string | null;
}

/** What the origin call of a step does: answered, timed out, crashed mid-call, or a retry status. */
export type CallOutcome = "answer" | "unknown" | "crash" | "release";

/** How long the modelled origin takes at most, and how long it deduplicates a key it has seen. */
export const ORIGIN_TIMEOUT_MS = 30_000;
export const ORIGIN_KEY_WINDOW_MS = 2 * 3_600_000;

/** A broken invariant, with the step that broke it. */
export class Violation extends Error {}

interface Marker {
  destination: string;
  migration: string | null;
  expiresAt: number;
}

interface ObjectState {
  records: Map<string, KeyRecord>;
  markers: Map<string, Marker>;
  verdicts: Map<string, { verdict: MappingVerdict; confirmedAt: number }>;
}

/** The execution the origin last performed for a key, and the record that answers for it. */
interface Execution {
  holder: string;
  createdAt: number;
  liveUntil: number;
  firstSeenAt: number;
}

type Reply =
  { kind: "moved"; to: string; identity?: string } | { kind: "done" } | { kind: "refused" };

/** One command as a Worker sends it (`ExecuteCommand`, the parts the decisions read). */
interface Command {
  key: string;
  identity: string;
  report: MappingReport;
  config: WorkerConfig;
  next?: string;
  renamed?: { identity: string; address: string };
}

const DAY_MS = 86_400_000;

/** The configurations a run draws from: two mappings, a TTL lowered in a migration, re-forwarding. */
export const CONFIGS: readonly WorkerConfig[] = [
  {
    name: "A, 7-day TTL",
    shards: 2,
    previousShards: null,
    ttlMs: 7 * DAY_MS,
    reforward: null,
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "A",
    shards: 2,
    previousShards: null,
    ttlMs: DAY_MS,
    reforward: null,
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "A → B",
    shards: 3,
    previousShards: 2,
    ttlMs: DAY_MS,
    reforward: null,
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "B",
    shards: 3,
    previousShards: null,
    ttlMs: DAY_MS,
    reforward: null,
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "B → A",
    shards: 2,
    previousShards: 3,
    ttlMs: DAY_MS,
    reforward: null,
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "A, reforward",
    shards: 2,
    previousShards: null,
    ttlMs: DAY_MS,
    reforward: { originKeyMs: ORIGIN_KEY_WINDOW_MS, originTimeoutMs: ORIGIN_TIMEOUT_MS },
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "A → B, reforward",
    shards: 3,
    previousShards: 2,
    ttlMs: DAY_MS,
    reforward: { originKeyMs: ORIGIN_KEY_WINDOW_MS, originTimeoutMs: ORIGIN_TIMEOUT_MS },
    scope: "authorization",
    previousScope: null,
  },
  {
    name: "A, scoped by x-api-key",
    shards: 2,
    previousShards: null,
    ttlMs: DAY_MS,
    reforward: null,
    scope: "x-api-key",
    previousScope: null,
  },
  {
    name: "A, scope changing to x-api-key",
    shards: 2,
    previousShards: null,
    ttlMs: DAY_MS,
    reforward: null,
    scope: "x-api-key",
    previousScope: "authorization",
  },
];

/**
 * A key's identity under a scope: the product hashes scope values with the key; the model gives
 * each scope its own identity, on its own shard where the counts allow.
 */
export function identityOf(key: string, scope: string): string {
  const tag = scope === "authorization" ? "00" : "77";
  return `${key.slice(0, 2)}${tag}`.padEnd(8, "0").padEnd(64, "a");
}

/** Key identities (64 hex digits, as the product's), spread over the shards of both mappings. */
export const KEYS: readonly string[] = ["00", "01", "02", "05"].map((prefix) =>
  prefix.padEnd(8, "0").padEnd(64, "a"),
);

/** The durations a step may move the clock by: around every bound the protocol has. */
export const STEPS_MS: readonly number[] = [
  1_000,
  ORIGIN_TIMEOUT_MS + 6_000,
  4 * 60_000,
  SIGHTING_VALID_MS + 90_000,
  3_600_000,
  DAY_MS,
  6 * DAY_MS,
];

/** The modelled deployment. */
export class System {
  now = 1_800_000_000_000;
  registry: MappingState | null = null;
  readonly objects = new Map<string, ObjectState>();
  readonly executions = new Map<string, Execution>();
  readonly log: string[] = [];
  readonly #rules: RegistryRules;
  readonly #markersByMigration: boolean;
  readonly #scopeDrained: typeof isScopeDrained;

  /**
   * @param rules - the registry's rules (the product's by default)
   * @param markersByMigration - whether markers follow their migration (`false`: every marker
   *   redirects every command, as before markers were named)
   * @param scopeDrained - when a scope change sends keys to their new identity (the product's
   *   `isScopeDrained` by default)
   */
  constructor(
    rules: RegistryRules = decideMapping,
    markersByMigration = true,
    scopeDrained: typeof isScopeDrained = isScopeDrained,
  ) {
    this.#rules = rules;
    this.#markersByMigration = markersByMigration;
    this.#scopeDrained = scopeDrained;
  }

  /** A Worker of `config` sends a request with `key`; the origin call, if any, ends as `outcome`. */
  send(config: WorkerConfig, key: string, outcome: CallOutcome): void {
    this.log.push(`${config.name} sends ${key.slice(0, 2)} (${outcome})`);
    const { current, previous } = mappingsOf({
      shards: config.shards,
      previousShards: config.previousShards,
      previousMapping: null,
      ...NO_PLACEMENT,
    });
    const report: MappingReport = {
      current: nameOfMapping(current),
      previous: previous === null ? null : nameOfMapping(previous),
      ttlMs: config.ttlMs,
      scope: config.scope,
      previousScope: config.previousScope,
    };
    const identity = identityOf(key, config.scope);
    const old = config.previousScope === null ? null : identityOf(key, config.previousScope);
    // During a scope change the key is first reached through its old identity.
    const routed = old ?? identity;
    const home = objectAddress(routed, current);
    const first = previous === null ? home : objectAddress(routed, previous);
    const command: Command = { key, identity: routed, report, config };
    if (previous !== null) command.next = home;
    if (old !== null) command.renamed = { identity, address: objectAddress(identity, current) };
    const reply = this.#execute(first, command, outcome);
    if (reply.kind !== "moved") return;
    const direct: Command = { key, identity: reply.identity ?? routed, report, config };
    const moved = this.#execute(reply.to, direct, outcome);
    if (moved.kind === "moved") {
      throw new Violation(
        `${key.slice(0, 2)} was redirected twice (${first} → ${reply.to} → ${moved.to})`,
      );
    }
  }

  /** The clock moves forward. */
  advance(ms: number): void {
    this.log.push(`+${ms} ms`);
    this.now += ms;
  }

  /**
   * An operator purges `key` as a Worker of `config` finds it (the previous mapping's object when
   * it holds a record, else the current one), under the coordinator's rule: never a record whose
   * call may still be running.
   */
  purge(config: WorkerConfig, key: string): void {
    this.log.push(`purge ${key.slice(0, 2)} through ${config.name}`);
    const { current, previous } = mappingsOf({
      shards: config.shards,
      previousShards: config.previousShards,
      previousMapping: null,
      ...NO_PLACEMENT,
    });
    const identity = identityOf(key, config.scope);
    const old = previous === null ? null : objectAddress(identity, previous);
    const holder =
      old !== null && this.#object(old).records.has(identity)
        ? old
        : objectAddress(identity, current);
    const records = this.#object(holder).records;
    const record = records.get(identity);
    if (record === undefined) return;
    if (record.state === "in_flight" && record.leaseUntil > this.now) return;
    records.delete(identity);
    const execution = this.executions.get(key);
    if (execution?.holder === holder && execution.createdAt === record.createdAt) {
      // The operator chose to let the next request through: a new charge is theirs to allow.
      this.executions.delete(key);
    }
  }

  #object(address: string): ObjectState {
    let object = this.objects.get(address);
    if (object === undefined) {
      object = { records: new Map(), markers: new Map(), verdicts: new Map() };
      this.objects.set(address, object);
    }
    return object;
  }

  #execute(address: string, command: Command, outcome: CallOutcome): Reply {
    const object = this.#object(address);
    const { key, identity, report, next, renamed, config } = command;
    const row = object.records.get(identity) ?? null;
    const decision = decide(row, "fingerprint", this.now, false, config.reforward);
    switch (decision.kind) {
      case "forward": {
        const verdict = this.#standing(object, report);
        if (!verdict.ok) return { kind: "refused" };
        if (renamed !== undefined && this.#scopeDrained(verdict.state, report)) {
          return { kind: "moved", to: renamed.address, identity: renamed.identity };
        }
        const scope = this.#markersByMigration
          ? markerScope(report, next !== undefined)
          : ({ follows: "any" } as const);
        const stored = object.markers.get(identity);
        const marker =
          stored !== undefined &&
          stored.expiresAt > this.now &&
          markerApplies(scope, stored.migration)
            ? stored
            : null;
        const destination = marker?.destination ?? next ?? null;
        if (destination !== null) {
          if (!isDrained(verdict.state, report)) {
            const migration = marker?.migration ?? migrationName(report);
            const expiresAt = this.now + config.ttlMs + MOVED_MARGIN_MS;
            const kept =
              stored !== undefined && stored.migration === migration
                ? Math.max(stored.expiresAt, expiresAt)
                : expiresAt;
            object.markers.set(identity, { destination, migration, expiresAt: kept });
          }
          return { kind: "moved", to: destination };
        }
        const record = claim("fingerprint", this.now, config.ttlMs, ORIGIN_TIMEOUT_MS);
        this.#call(address, key, identity, record, outcome, false);
        return { kind: "done" };
      }
      case "reforward":
        this.#call(
          address,
          key,
          identity,
          reclaim(row as KeyRecord, this.now, ORIGIN_TIMEOUT_MS),
          outcome,
          true,
        );
        return { kind: "done" };
      case "lease-expired":
        object.records.set(identity, { ...(row as KeyRecord), state: "unknown" });
        return { kind: "done" };
      default:
        return { kind: "done" };
    }
  }

  /** The origin call of a claim or re-claim: the record is durable before the origin sees it. */
  #call(
    address: string,
    key: string,
    identity: string,
    record: KeyRecord,
    outcome: CallOutcome,
    again: boolean,
  ): void {
    const records = this.#object(address).records;
    records.set(identity, record);
    this.#arrive(address, key, record, again, outcome);
    switch (outcome) {
      case "answer":
        records.set(identity, { ...record, state: "completed" });
        break;
      case "unknown":
        records.set(identity, { ...record, state: "unknown" });
        break;
      case "crash":
        break; // left in flight, its lease running
      case "release":
        // A retry status releases a first call's key; a re-forward's record stays unknown.
        if (again) records.set(identity, { ...record, state: "unknown" });
        else records.delete(identity);
        break;
    }
  }

  #arrive(
    address: string,
    key: string,
    record: KeyRecord,
    again: boolean,
    outcome: CallOutcome,
  ): void {
    const earlier = this.executions.get(key);
    if (earlier !== undefined && earlier.liveUntil > this.now) {
      const deduplicated = again && this.now < earlier.firstSeenAt + ORIGIN_KEY_WINDOW_MS;
      if (!deduplicated) {
        throw new Violation(
          `${key.slice(0, 2)} reached the origin again from ${address} while the record of its execution in ${earlier.holder} is live until ${earlier.liveUntil - this.now} ms from now`,
        );
      }
      // The origin answers from its own record: nothing executes, the first record still holds.
      earlier.holder = address;
      earlier.createdAt = record.createdAt;
      return;
    }
    // A retry status means the origin did nothing.
    if (outcome === "release") return;
    this.executions.set(key, {
      holder: address,
      createdAt: record.createdAt,
      liveUntil: record.expiresAt,
      firstSeenAt: this.now,
    });
  }

  /** `MappingVerdicts.standing` and `confirm`, without storage: the kept verdict, or the registry's. */
  #standing(object: ObjectState, report: MappingReport): MappingVerdict {
    const id = JSON.stringify([
      report.current,
      report.previous,
      report.ttlMs,
      report.scope,
      report.previousScope,
    ]);
    const known = object.verdicts.get(id);
    const age = known === undefined ? Infinity : this.now - known.confirmedAt;
    if (known !== undefined && age < VERDICT_REFRESH_MS) return known.verdict;
    if (known !== undefined && known.verdict.ok && age < VERDICT_LEASE_MS) {
      // Used as it is, and renewed in the background: the registry sees the report now.
      object.verdicts.set(id, { verdict: this.#ask(report), confirmedAt: this.now });
      return known.verdict;
    }
    const verdict = this.#ask(report);
    object.verdicts.set(id, { verdict, confirmedAt: this.now });
    return verdict;
  }

  #ask(report: MappingReport): MappingVerdict {
    const mapping = this.#rules(this.registry, report, this.now, SIGHTING_VALID_MS);
    const verdict = decideScope(this.registry, mapping, report, this.now, SIGHTING_VALID_MS);
    if (verdict.ok) this.registry = verdict.state;
    return verdict;
  }
}
