import type { MappingReport, MappingState, MappingVerdict } from "./mapping.ts";
import { DRAIN_MARGIN_MS } from "./mapping.ts";

/**
 * Changing `IDEMPOTENCY_SCOPE_HEADERS` without re-forwarding a stored key (docs/operations.md,
 * "Changing the scope headers"). The scope headers are part of every key's identity, so a new list
 * gives every key a new identity — and a new object: a retry of a stored key would be forwarded
 * again. The registry of key mappings therefore also keeps the list in use, refuses a silent
 * change, and runs an explicit one (`IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS`) in two phases. Pure: no
 * I/O, `now` passed in.
 *
 * 1. **Changing.** Workers with the change reach every key through its *old* identity, exactly
 *    where Workers without it (not yet redeployed) reach it, and claim new keys there too: the two
 *    versions always meet.
 * 2. **Drained.** Once no Worker with the old list alone has been seen for the verdict lease and a
 *    margin (no object can still accept one), such Workers are refused, and an object asked for a
 *    key it holds no record of under the old identity sends the Worker to the key's new identity
 *    instead of claiming: nothing is written under old identities any more.
 * 3. **Done**, one TTL (the longest reported) and a lease after the drain: every record written
 *    under an old identity has expired, and the previous list may be removed.
 *
 * A scope change and a mapping migration are never under way at once.
 */

/** The registry's memory of an explicit scope change. */
export interface ScopeChange {
  /** The list being left. */
  from: string;
  /** When the change was first reported (ms). */
  startedAt: number;
  /** The last time a Worker with `from` alone reported (ms). */
  previousOnlySeenAt: number;
  /** When no such Worker could claim any more, or `null` while one may. */
  drainedAt: number | null;
}

/**
 * The name of a scope-header list: its header names, lower-cased, sorted, comma-separated (`""`:
 * one global scope). Names only, never values: it is logged and stored.
 *
 * @example
 * scopeName(["X-Api-Key", "authorization"]); // "authorization,x-api-key"
 */
export function scopeName(headers: readonly string[]): string {
  return [...headers]
    .map((name) => name.toLowerCase())
    .sort()
    .join(",");
}

/**
 * Applies the scope part of a Worker's report to the state the mapping rules left (`verdict`),
 * given the state before them (`before`). A report without a scope (older Workers) is never
 * checked; a state without one adopts the first it hears.
 */
export function decideScope(
  before: MappingState | null,
  verdict: MappingVerdict,
  report: MappingReport,
  now: number,
  heartbeatMs: number,
): MappingVerdict {
  if (!verdict.ok || report.scope === undefined) return verdict;
  const scope = before?.scope ?? null;
  const change = before?.scopeChange ?? null;
  const previous = report.previousScope ?? null;
  const keep = (patch: Partial<MappingState>): MappingVerdict => ({
    ok: true,
    state: {
      ...verdict.state,
      scope: scope ?? report.scope ?? null,
      scopeChange: change,
      ...patch,
    },
  });
  if (scope === null) {
    // The first report with a scope: the list in use, whatever it is.
    return keep({ scope: report.scope, scopeChange: null });
  }
  if (previous !== null && (report.previous !== null || verdict.state.previous !== null)) {
    return refuse(
      "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS",
      "must not change the scope headers while the key mapping changes: finish one change first",
    );
  }
  if (change === null) {
    if (previous === null && report.scope === scope) return keep({});
    if (previous === scope && report.scope !== scope) {
      return keep({
        scope: report.scope,
        scopeChange: { from: scope, startedAt: now, previousOnlySeenAt: now, drainedAt: null },
      });
    }
    if (previous !== null && report.scope === scope) {
      // A straggler of a finished change: its objects find nothing under old identities.
      return keep({});
    }
    return refuse(
      "IDEMPOTENCY_SCOPE_HEADERS",
      `scopes keys by ${describe(report.scope)}, but keys are stored scoped by ${describe(scope)}: a silent change would forward every retry of a stored key again; change it with IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS=${setting(scope)} (docs/operations.md, "Changing the scope headers")`,
    );
  }
  // A change change.from → scope is under way.
  if (previous === change.from && report.scope === scope) {
    const due = change.previousOnlySeenAt + heartbeatMs + DRAIN_MARGIN_MS;
    const drainedAt = change.drainedAt ?? (now >= due ? now : null);
    return keep({ scopeChange: { ...change, drainedAt } });
  }
  if (previous === null && report.scope === change.from) {
    if (change.drainedAt !== null) {
      return refuse(
        "IDEMPOTENCY_SCOPE_HEADERS",
        `keys are now scoped by ${describe(scope)} (the change from ${describe(change.from)} has drained): deploy the configuration with the new list and IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS=${setting(change.from)}`,
      );
    }
    return keep({ scopeChange: { ...change, previousOnlySeenAt: now } });
  }
  if (previous === null && report.scope === scope) {
    const longest = Math.max(verdict.state.ttlMs, report.ttlMs);
    const doneAt = change.drainedAt === null ? null : change.drainedAt + heartbeatMs + longest;
    if (doneAt !== null && now >= doneAt) return keep({ scopeChange: null });
    return refuse(
      "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS",
      doneAt === null
        ? `keys may still be claimed scoped by ${describe(change.from)}: keep it set until the change has drained and one TTL has passed`
        : `keys may still be live scoped by ${describe(change.from)}: keep it set until ${new Date(doneAt).toISOString()}`,
    );
  }
  return refuse(
    "IDEMPOTENCY_SCOPE_HEADERS",
    `a change of the scope headers from ${describe(change.from)} to ${describe(scope)} is under way: only those two lists may serve until it is done`,
  );
}

/**
 * Whether a Worker that changes the scope headers (`report.previousScope` set) may send a key it
 * finds no record of under the old identity to its new identity: the change has drained, or is
 * done. Once true it stays true.
 */
export function isScopeDrained(state: MappingState, report: MappingReport): boolean {
  const previous = report.previousScope ?? null;
  if (previous === null || (state.scope ?? null) !== report.scope) return false;
  const change = state.scopeChange ?? null;
  if (change === null) return true;
  return change.from === previous && change.drainedAt !== null;
}

function refuse(variable: string, detail: string): MappingVerdict {
  return { ok: false, variable, detail };
}

function describe(scope: string): string {
  return scope === "" ? "nothing (one global scope)" : scope;
}

function setting(scope: string): string {
  return scope === "" ? "(none)" : scope;
}
