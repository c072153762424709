import { describe, expect, it } from "vitest";
import {
  DRAIN_MARGIN_MS,
  decideMapping,
  mappingName,
  type MappingReport,
  type MappingState,
} from "../../../src/core/mapping";
import { decideScope, isScopeDrained, scopeName } from "../../../src/core/scope-change";

const A = mappingName(4);
const DAY = 86_400_000;
const LEASE = 300_000;
const T0 = 1_800_000_000_000;

/** The registry's rules as the registry applies them: the mapping's, then the scope's. */
function registry(state: MappingState | null, report: MappingReport, now: number) {
  return decideScope(state, decideMapping(state, report, now, LEASE), report, now, LEASE);
}

const report = (scope: string, previousScope: string | null = null): MappingReport => ({
  current: A,
  previous: null,
  ttlMs: DAY,
  scope,
  previousScope,
});

function accepted(verdict: ReturnType<typeof registry>): MappingState {
  if (!verdict.ok) throw new Error(`refused: ${verdict.detail}`);
  return verdict.state;
}

describe("changing the scope headers", () => {
  const steady = accepted(registry(null, report("authorization"), T0));

  it("names a list by its header names, lower-cased and sorted, never by values", () => {
    expect(scopeName(["X-Api-Key", "authorization"])).toBe("authorization,x-api-key");
    expect(scopeName([])).toBe("");
  });

  it("adopts the first list it hears of, and does not check Workers that report none", () => {
    expect(steady.scope).toBe("authorization");
    const older = { current: A, previous: null, ttlMs: DAY };
    expect(registry(steady, older, T0).ok).toBe(true);
  });

  it("refuses a silent change, naming the setting that makes it explicit", () => {
    const verdict = registry(steady, report("x-api-key"), T0);
    expect(verdict).toMatchObject({ ok: false, variable: "IDEMPOTENCY_SCOPE_HEADERS" });
    expect(verdict.ok ? "" : verdict.detail).toContain(
      "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS=authorization",
    );
  });

  it("runs an explicit change: old Workers accepted until it drains, refused after; the end waits a TTL after the drain", () => {
    const changing = report("x-api-key", "authorization");
    const started = accepted(registry(steady, changing, T0));
    expect(started.scopeChange).toMatchObject({ from: "authorization", drainedAt: null });
    expect(isScopeDrained(started, changing)).toBe(false);
    expect(registry(started, report("authorization"), T0 + 1).ok).toBe(true);

    const due = T0 + LEASE + DRAIN_MARGIN_MS;
    expect(accepted(registry(started, changing, due - 1)).scopeChange?.drainedAt).toBeNull();
    const drained = accepted(registry(started, changing, due));
    expect(isScopeDrained(drained, changing)).toBe(true);
    expect(registry(drained, report("authorization"), due + 1)).toMatchObject({
      ok: false,
      variable: "IDEMPOTENCY_SCOPE_HEADERS",
    });

    expect(registry(drained, report("x-api-key"), due + LEASE + DAY - 1)).toMatchObject({
      ok: false,
      variable: "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS",
    });
    const done = accepted(registry(drained, report("x-api-key"), due + LEASE + DAY));
    expect(done.scopeChange).toBeNull();
    expect(isScopeDrained(done, changing)).toBe(true);
  });

  it("refuses a change of the scope headers during a change of the mapping, and the reverse", () => {
    const migrating = accepted(
      registry(steady, { ...report("authorization"), current: mappingName(8), previous: A }, T0),
    );
    expect(
      registry(migrating, { ...report("x-api-key", "authorization"), current: mappingName(8) }, T0)
        .ok,
    ).toBe(false);
    const changing = accepted(registry(steady, report("x-api-key", "authorization"), T0));
    expect(
      registry(
        changing,
        { ...report("x-api-key", "authorization"), current: mappingName(8), previous: A },
        T0,
      ).ok,
    ).toBe(false);
  });
});
