import { isDrained, type MappingReport, type MappingVerdict } from "../core/mapping";
import { isScopeDrained } from "../core/scope-change";

/**
 * The registry's verdicts on key mappings, kept by the coordinator objects that apply them
 * (docs/adr/0009). The registry is one object for the whole deployment; asking it before every
 * isolate's first request put it on every request path. Instead, each command carries its
 * Worker's mapping report, and the object about to *claim* a key (the only step a wrong mapping
 * makes unsafe) checks the report against a verdict it keeps:
 *
 * - younger than `VERDICT_REFRESH_MS`: used as it is;
 * - an acceptance younger than `VERDICT_LEASE_MS`: used, and renewed in the background (one call
 *   in flight per report, `REGISTRY_TIMEOUT_MS`, no retry sooner than `REGISTRY_BACKOFF_MS`);
 * - otherwise the claim waits for the registry, once; if it does not answer, the claim is refused
 *   (`gateway-busy`, nothing claimed), while replays, joins and mismatches go on as usual.
 *
 * The registry sees a few calls a minute per object, whatever the number of isolates. An
 * acceptance is used for at most `VERDICT_LEASE_MS` after the registry gave it, which is why the
 * registry ends a migration only a lease after it last saw the old mapping (core/mapping.ts).
 * Verdicts are kept in the object's SQLite storage too, so a restarted object keeps serving
 * through a registry outage for the rest of the lease.
 */

/** Age after which a verdict is renewed. */
export const VERDICT_REFRESH_MS = 60_000;

/** Age after which an acceptance no longer allows a claim without a new answer. */
export const VERDICT_LEASE_MS = 5 * 60_000;

/** How long a claim (or a background renewal) waits for the registry. */
export const REGISTRY_TIMEOUT_MS = 2_000;

/** After a failed call, how long the registry is not asked again for the same report. */
export const REGISTRY_BACKOFF_MS = 1_000;

/** The table; created with the object's schema. */
export const VERDICTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS mapping_verdicts (
  report TEXT PRIMARY KEY,
  verdict TEXT NOT NULL,
  confirmed_at INTEGER NOT NULL
);
`;

/** A verdict and when the registry gave it (ms; the time the question was sent, to be safe). */
export interface Confirmed {
  verdict: MappingVerdict;
  confirmedAt: number;
}

/** What a claim may do under a report: go ahead, be refused (and why), or wait for the registry. */
export type Standing =
  /**
   * `drained`: no Worker that knows only the previous mapping can claim any more (`isDrained`);
   * `scopeDrained`: none that knows only the previous scope headers (`isScopeDrained`).
   */
  | { kind: "accepted"; drained: boolean; scopeDrained: boolean }
  | { kind: "refused"; variable: string; detail: string }
  | { kind: "unavailable" };

/** Asks the registry (or a relay that asks it) for the verdict on a report. */
export type AskRegistry = (report: MappingReport) => Promise<Confirmed>;

interface Known extends Confirmed {
  failedAt?: number;
}

/**
 * One object's verdicts, by report.
 *
 * @example
 * const verdicts = new MappingVerdicts(ctx.storage.sql, ask, (p) => ctx.waitUntil(p));
 * const now = Date.now();
 * const standing = verdicts.standing(report, now) ?? (await verdicts.confirm(report, now));
 */
export class MappingVerdicts {
  readonly #sql: SqlStorage;
  readonly #ask: AskRegistry;
  readonly #background: (promise: Promise<unknown>) => void;
  readonly #known = new Map<string, Known>();
  readonly #pending = new Map<string, Promise<Standing>>();

  constructor(sql: SqlStorage, ask: AskRegistry, background: (promise: Promise<unknown>) => void) {
    this.#sql = sql;
    this.#ask = ask;
    this.#background = background;
  }

  /**
   * The standing of a claim under `report` now, without waiting; `null` when only the registry
   * can tell (then `confirm`). Renews a verdict past its refresh age in the background.
   */
  standing(report: MappingReport, now: number): Standing | null {
    const id = reportId(report);
    const known = this.#known.get(id) ?? this.#load(id);
    if (known === undefined) return null;
    const age = now - known.confirmedAt;
    if (age < VERDICT_REFRESH_MS) return standingOf(known.verdict, report);
    if (known.verdict.ok && age < VERDICT_LEASE_MS) {
      if (!this.#pending.has(id) && !backingOff(known, now)) {
        this.#background(this.#renew(id, report, now));
      }
      return standingOf(known.verdict, report);
    }
    return null;
  }

  /**
   * Waits for the registry's verdict on `report` (one call per report at a time). When it does
   * not answer in time: a refusal already known stands; anything else is `unavailable`.
   */
  confirm(report: MappingReport, now: number): Promise<Standing> {
    const id = reportId(report);
    const known = this.#known.get(id);
    if (known !== undefined && backingOff(known, now)) return Promise.resolve(fallback(known));
    return this.#pending.get(id) ?? this.#renew(id, report, now);
  }

  /**
   * The verdict on `report` with the time the registry gave it, renewed first when older than
   * `VERDICT_REFRESH_MS` (for a relay: the asking object applies the lease itself). Throws when
   * no verdict is known and the registry does not answer.
   */
  async confirmed(report: MappingReport, now: number): Promise<Confirmed> {
    const id = reportId(report);
    const known = this.#known.get(id) ?? this.#load(id);
    if (known === undefined || now - known.confirmedAt >= VERDICT_REFRESH_MS) {
      await this.confirm(report, now);
    }
    const latest = this.#known.get(id);
    if (latest === undefined || latest.confirmedAt === Number.NEGATIVE_INFINITY) {
      throw new Error("the mapping registry did not answer");
    }
    return { verdict: latest.verdict, confirmedAt: latest.confirmedAt };
  }

  #renew(id: string, report: MappingReport, now: number): Promise<Standing> {
    const call = withTimeout(this.#ask(report), REGISTRY_TIMEOUT_MS).then(
      (confirmed): Standing => {
        this.#remember(id, confirmed);
        return standingOf(confirmed.verdict, report);
      },
      (error: unknown): Standing => {
        const known = this.#known.get(id);
        if (known !== undefined) known.failedAt = now;
        else this.#known.set(id, { ...UNCONFIRMED, failedAt: now });
        // Once per failed call (at most one per report per backoff): no key, scope or body in it.
        console.error(JSON.stringify({ event: "registry-unavailable", error: String(error) }));
        return known === undefined ? { kind: "unavailable" } : fallback(known);
      },
    );
    const pending = call.finally(() => this.#pending.delete(id));
    this.#pending.set(id, pending);
    return pending;
  }

  #remember(id: string, confirmed: Confirmed): void {
    const known = this.#known.get(id);
    // A slower, older answer never replaces a newer one.
    if (known !== undefined && known.confirmedAt > confirmed.confirmedAt) return;
    this.#known.set(id, { ...confirmed });
    this.#sql.exec(
      "INSERT INTO mapping_verdicts (report, verdict, confirmed_at) VALUES (?, ?, ?) ON CONFLICT (report) DO UPDATE SET verdict = excluded.verdict, confirmed_at = excluded.confirmed_at",
      id,
      JSON.stringify(confirmed.verdict),
      confirmed.confirmedAt,
    );
  }

  #load(id: string): Known | undefined {
    const row = this.#sql
      .exec<{
        verdict: string;
        confirmed_at: number;
      }>("SELECT verdict, confirmed_at FROM mapping_verdicts WHERE report = ?", id)
      .toArray()[0];
    // Remembered even when absent, so a report is looked up in storage once per instance.
    const known: Known =
      row === undefined
        ? { ...UNCONFIRMED }
        : { verdict: JSON.parse(row.verdict) as MappingVerdict, confirmedAt: row.confirmed_at };
    this.#known.set(id, known);
    return row === undefined ? undefined : known;
  }
}

/** A report no verdict is known for: never usable (`confirmedAt` at the epoch). */
const UNCONFIRMED: Known = {
  verdict: { ok: false, variable: "", detail: "" },
  confirmedAt: Number.NEGATIVE_INFINITY,
};

/** The identity of a report: its fields, in the order `mappingReport` builds them. */
function reportId(report: MappingReport): string {
  return JSON.stringify([
    report.current,
    report.previous,
    report.ttlMs,
    report.scope ?? null,
    report.previousScope ?? null,
  ]);
}

function standingOf(verdict: MappingVerdict, report: MappingReport): Standing {
  return verdict.ok
    ? {
        kind: "accepted",
        drained: isDrained(verdict.state, report),
        scopeDrained: isScopeDrained(verdict.state, report),
      }
    : { kind: "refused", variable: verdict.variable, detail: verdict.detail };
}

/** Without an answer: a known refusal stands (it is the safer verdict); nothing else allows. */
function fallback(known: Known): Standing {
  if (known.confirmedAt === Number.NEGATIVE_INFINITY || known.verdict.ok) {
    return { kind: "unavailable" };
  }
  return { kind: "refused", variable: known.verdict.variable, detail: known.verdict.detail };
}

function backingOff(known: Known, now: number): boolean {
  return known.failedAt !== undefined && now - known.failedAt < REGISTRY_BACKOFF_MS;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
