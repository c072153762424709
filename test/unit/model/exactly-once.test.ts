import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decideMapping } from "../../../src/core/mapping";
import { exactlyOnce } from "../../../harness/model/commands";
import { CONFIGS, KEYS, System, Violation } from "../../../harness/model/system";

/**
 * The model-based test of the exactly-once protocol (`harness/model/`): fast-check generates
 * orders of steps — Workers of old, migrating and new configurations sending keys, origin calls
 * answered, timed out, crashed or released, the clock moving past leases, TTLs and verdict leases,
 * operators purging — runs them against the product's own decision code, and checks after every
 * step that no key reached the origin twice while an earlier execution could still be answered.
 * `npm test` runs 2,000 orders; `MODEL_RUNS=100000 npx vitest run --project workers
 * test/unit/model` runs as many as asked (test/README.md).
 */

const RUNS = Number((env as { MODEL_RUNS?: string }).MODEL_RUNS ?? "") || 2000;

/**
 * The registry as it was before it kept the longest TTL: a migration took the TTL the migrating
 * Worker reported, and steady state never raised it.
 */
const forgetsTheLongerTtl: typeof decideMapping = (state, report, now, heartbeatMs) => {
  const verdict = decideMapping(state, report, now, heartbeatMs);
  if (!verdict.ok || state === null) return verdict;
  if (state.previous === null && verdict.state.previous === null) return { ok: true, state };
  if (state.previous === null)
    return { ok: true, state: { ...verdict.state, ttlMs: report.ttlMs } };
  return verdict;
};

const config = (name: string) => {
  const found = CONFIGS.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no configuration ${name}`);
  return found;
};
const [K0, K1, K2] = KEYS as [string, string, string];
const DAY_MS = 86_400_000;

describe("the exactly-once model: Workers, objects, the registry, crashes, purges and re-forwards in generated orders", () => {
  it(`keeps every invariant over ${RUNS} generated orders of steps`, () => {
    fc.assert(exactlyOnce(), { numRuns: RUNS });
  });

  it("finds the migration that also lowers the TTL when the registry forgets the longer TTL", () => {
    const details = fc.check(exactlyOnce(forgetsTheLongerTtl), { numRuns: 20_000, seed: 7 });
    expect(details.failed).toBe(true);
    expect(String(details.errorInstance)).toContain("reached the origin again");
  });
  it("finds the scope change that claims under new identities before old Workers are gone", () => {
    const details = fc.check(
      exactlyOnce(decideMapping, true, () => true),
      {
        numRuns: 20_000,
        seed: 7,
      },
    );
    expect(details.failed).toBe(true);
    expect(String(details.errorInstance)).toContain("reached the origin again");
  });
});

describe("the examples the model found, kept as fixed orders", () => {
  /** A 7-day key stored under A; a migration to B whose Workers report one day; B alone a day later. */
  function lowerTheTtl(system: System): void {
    system.send(config("A, 7-day TTL"), K0, "answer");
    system.send(config("A → B"), K1, "answer");
    system.advance(DAY_MS + 10 * 60_000);
    system.send(config("B"), K0, "answer");
  }

  it("a migration that also lowers the longest TTL: the key is not forwarded again", () => {
    expect(() => lowerTheTtl(new System())).not.toThrow();
    expect(() => lowerTheTtl(new System(forgetsTheLongerTtl))).toThrow(Violation);
  });

  /**
   * A → B with a key sent 4 minutes in; B alone as soon as allowed (a TTL and a lease after the
   * start), when the key's record in B has expired but the A object's marker (5 minutes longer)
   * has not; then B → A with the same key.
   */
  function migrateBack(system: System): void {
    system.send(config("A"), K1, "answer");
    system.send(config("A → B"), K2, "answer");
    system.advance(4 * 60_000);
    system.send(config("A → B"), K0, "answer");
    system.advance(DAY_MS + 2 * 60_000);
    system.send(config("B"), K1, "answer");
    system.send(config("B → A"), K0, "answer");
  }

  /** A re-forward answered with a retry status, then a retry after the origin's key window. */
  function reforwardThenRetryStatus(system: System): void {
    system.send(config("A, reforward"), K0, "unknown");
    system.send(config("A, reforward"), K0, "release");
    system.advance(3_600_000);
    system.advance(3_600_000);
    system.send(config("A, reforward"), K0, "answer");
  }

  it("a re-forward answered with a retry status: the record stays unknown, never released to a second charge", () => {
    expect(() => reforwardThenRetryStatus(new System())).not.toThrow();
  });

  /** A key stored scoped by Authorization; a silent change; then an explicit one, old Workers too. */
  function changeTheScope(system: System): void {
    system.send(config("A"), K0, "answer");
    system.send(config("A, scoped by x-api-key"), K0, "answer");
    system.send(config("A, scope changing to x-api-key"), K0, "answer");
    system.send(config("A, scope changing to x-api-key"), K1, "answer");
    system.send(config("A"), K1, "answer");
    system.advance(10 * 60_000);
    system.send(config("A, scope changing to x-api-key"), K2, "answer");
    system.send(config("A"), K2, "answer");
    system.send(config("A, scope changing to x-api-key"), K1, "answer");
  }

  it("a change of the scope headers: refused when silent, and every key forwarded once when explicit", () => {
    const system = new System();
    changeTheScope(system);
    expect([...system.executions.keys()].sort()).toEqual([K0, K1, K2].sort());
    expect(() => changeTheScope(new System(decideMapping, true, () => true))).toThrow(Violation);
  });

  it("a migration back within a TTL: the key is claimed once in its home, never redirected twice", () => {
    expect(() => migrateBack(new System())).not.toThrow();
    expect(() => migrateBack(new System(decideMapping, false))).toThrow(/redirected twice/);
  });
});
