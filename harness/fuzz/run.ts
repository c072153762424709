import fc from "fast-check";
import { runAdminCase } from "./admin-cases.ts";
import { runApiCase } from "./api-cases.ts";
import type { FuzzCase } from "./cases.ts";
import { fuzzCase } from "./cases.ts";
import type { FuzzContext } from "./context.ts";
import { documentedProblems } from "./invariants.ts";

/**
 * The fuzzer's runner (docs/development.md, "Fuzzing"): the cases a seed gives, run a few at a time against a
 * live gateway, each checked by `api-cases.ts` or `admin-cases.ts`, and every failure reported
 * with the seed and index that replay it. `npm run fuzz` (scripts/fuzz.ts) and
 * `test/e2e/fuzz.test.ts` both run it.
 */

/** A case that broke an invariant. */
export interface FuzzFailure {
  index: number;
  fuzzCase: FuzzCase;
  violations: string[];
}

/** Options of `runFuzz`. */
export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Cases in flight at once (default 4). */
  concurrency?: number;
  /** Run only this case (by its index under `seed`). */
  only?: number;
  /** Called after each case. */
  onCase?: (index: number, failed: boolean) => void;
}

/** The result of a run. */
export interface FuzzReport {
  seed: number;
  cases: number;
  failures: FuzzFailure[];
  ms: number;
  /** How often each kind of answer and check came up: what the run exercised. */
  tally: Map<string, number>;
}

/** Runs one case and returns its violations (none: it passed). */
export async function runCase(ctx: FuzzContext, c: FuzzCase): Promise<string[]> {
  return c.kind === "api" ? runApiCase(ctx, c) : runAdminCase(ctx, c);
}

/** The cases a seed gives, in order: the same ones `fc.assert` would run with that seed. */
export function casesFor(seed: number, count: number): FuzzCase[] {
  return fc.sample(fuzzCase, { seed, numRuns: count });
}

/**
 * Runs `cases` cases drawn from `seed`, `concurrency` at a time, and reports every failure with
 * its index, so that `--seed S --only I` replays it.
 */
export async function runFuzz(
  ctx: Omit<FuzzContext, "problems">,
  options: FuzzOptions,
): Promise<FuzzReport> {
  const started = performance.now();
  const tally = new Map<string, number>();
  const full: FuzzContext = {
    ...ctx,
    problems: documentedProblems(),
    tally: (label) => tally.set(label, (tally.get(label) ?? 0) + 1),
  };
  const all = casesFor(options.seed, options.only === undefined ? options.cases : options.only + 1);
  const indices = options.only === undefined ? all.map((_, i) => i) : [options.only];
  const failures: FuzzFailure[] = [];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const position = next++;
      if (position >= indices.length) return;
      const index = indices[position] as number;
      const fuzzCase = all[index] as FuzzCase;
      let violations: string[];
      try {
        violations = await runCase(full, fuzzCase);
      } catch (error) {
        violations = [
          `the runner threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ];
      }
      if (violations.length > 0) failures.push({ index, fuzzCase, violations });
      options.onCase?.(index, violations.length > 0);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  failures.sort((a, b) => a.index - b.index);
  return {
    seed: options.seed,
    cases: indices.length,
    failures,
    ms: performance.now() - started,
    tally,
  };
}

/** A failure as text: the seed and index to replay it, the case, and what went wrong. */
export function describeFailure(seed: number, failure: FuzzFailure): string {
  const replacer = (_: string, value: unknown) =>
    typeof value === "string" && value.length > 200
      ? `${value.slice(0, 200)}…(${value.length})`
      : value;
  return [
    `case ${failure.index} (replay: npm run fuzz -- --seed ${seed} --only ${failure.index})`,
    ...failure.violations.map((v) => `  - ${v}`),
    `  case: ${JSON.stringify(failure.fuzzCase, replacer)}`,
  ].join("\n");
}
