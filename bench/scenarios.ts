import { randomUUID } from "node:crypto";
import path from "node:path";
import { runLoad, type Measure } from "./measure.ts";
import type { Options } from "./options.ts";
import type { BenchResults, Cell, GrowthStep } from "./report.ts";
import { post, prime, rss, stopTarget, type Origin, type Target } from "./targets.ts";

/** The four scenarios of bench/README.md, one function each. */

/** What a scenario works with. */
export interface Bench {
  options: Options;
  origin: Origin;
  /** The bare proxy first, then one gateway per `--shards` value. */
  targets: Target[];
  measure: Measure;
  /** Where the scenarios record what they find. */
  results: BenchResults;
  /** End of the `--max-minutes` budget (ms since the epoch). */
  deadline: number;
  /** Starts a gateway with `IDEMPOTENCY_SHARDS=shards` and its state in `persistTo`. */
  startGateway(shards: number, persistTo: string): Promise<Target>;
  /** A folder for state, removed after the run. */
  runDir: string;
  log(line: string): void;
}

const uniqueKey = () => `bench-${randomUUID()}`;
const newKeys = (count: number) => Array.from({ length: count }, () => `warm-${randomUUID()}`);

/** A `nextKey` that cycles through `keys`. */
function cycle(keys: readonly string[]): () => string {
  let i = 0;
  return () => keys[i++ % keys.length] as string;
}

/**
 * One cell per connection count and target. The targets take turns at each connection count, so
 * that a ratio to the bare proxy compares numbers taken a few seconds apart.
 */
async function measureEach(
  bench: Bench,
  targets: readonly Target[],
  cell: { scenario: Cell["scenario"]; durationS: number; storedKeys?: number },
  keys: () => () => string,
): Promise<void> {
  for (const connections of bench.options.connections) {
    for (const target of targets) {
      await bench.measure(target, { ...cell, connections, nextKey: keys() });
    }
  }
}

/** Unique-key first requests: every request a fresh key, which the gateway forwards and stores. */
export async function firstRequests(bench: Bench): Promise<void> {
  bench.log("\nunique-key first requests");
  await bench.origin.ask({ reset: true });
  const cell = { scenario: "first", durationS: bench.options.durationS } as const;
  await measureEach(bench, bench.targets, cell, () => uniqueKey);
}

/** Replays: `--warm-keys` keys stored through each gateway first, then cycled. */
export async function replays(bench: Bench): Promise<void> {
  bench.log(`\nreplays of ${bench.options.warmKeys} warm keys`);
  await bench.origin.ask({ reset: true });
  const warm = newKeys(bench.options.warmKeys);
  for (const target of bench.targets) if (target.shards !== null) await prime(target, warm);
  const cell = { scenario: "replay", durationS: bench.options.durationS } as const;
  await measureEach(bench, bench.targets, cell, () => cycle(warm));
}

/**
 * Retry-shaped traffic, as replays happen in the real world: every key is sent once, then
 * retried 1–3 times, each retry a short random delay (5–50 ms) after the previous send. About
 * half the requests are first requests, so a replay cache is measured only on the retries it can
 * really serve. Seeded, so every target sees the same shape.
 */
export async function retryShaped(bench: Bench): Promise<void> {
  bench.log("\nretry-shaped: each key once, then 1–3 retries after 5–50 ms");
  await bench.origin.ask({ reset: true });
  const cell = { scenario: "retry", durationS: bench.options.durationS } as const;
  await measureEach(bench, withDuplicates(bench), cell, () => retrySchedule(1));
}

/**
 * The targets that answer a duplicate of a request in flight: all but the floor, which keeps no
 * request in flight to wait on (first requests and replays only).
 */
function withDuplicates(bench: Bench): Target[] {
  return bench.targets.filter((target) => target.config !== "floor");
}

/** A `nextKey` that interleaves fresh keys with retries of earlier ones once they are due. */
function retrySchedule(seed: number): () => string {
  // mulberry32: a small seeded PRNG, so the shape is the same for every target.
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const due: { key: string; at: number; left: number }[] = [];
  const delay = () => 5 + random() * 45;
  return () => {
    const now = performance.now();
    const next = due[0];
    if (next !== undefined && next.at <= now) {
      due.shift();
      if (--next.left > 0) insert({ ...next, at: now + delay() });
      return next.key;
    }
    const key = uniqueKey();
    insert({ key, at: now + delay(), left: 1 + Math.floor(random() * 3) });
    return key;
  };
  function insert(entry: { key: string; at: number; left: number }) {
    const index = due.findIndex((d) => d.at > entry.at);
    if (index === -1) due.push(entry);
    else due.splice(index, 0, entry);
  }
}

/**
 * Contention: `--contention` concurrent duplicates of one key (plain `fetch` in `Promise.all`)
 * with a slow origin, so that all arrive while the first is at the origin. Records the origin
 * calls and how many answers are byte-identical to the first request's own.
 */
export async function contention(bench: Bench): Promise<void> {
  const { options, origin } = bench;
  const n = options.contentionN;
  bench.log(
    `\ncontention: ${n} duplicates of one key, origin at ${options.contentionLatencyMs} ms`,
  );
  await origin.ask({ latencyMs: options.contentionLatencyMs });
  try {
    for (const target of withDuplicates(bench)) {
      const key = `contention-${randomUUID()}`;
      const started = performance.now();
      const signal = AbortSignal.timeout(60_000);
      const failed = (error: unknown) => ({ status: 0, replayed: false, body: String(error) });
      const sends = Array.from({ length: n }, () => post(target, key, signal).catch(failed));
      const answers = await Promise.all(sends);
      const wallMs = Math.round(performance.now() - started);
      const first = answers.find((a) => !a.replayed) ?? answers[0];
      const same = (a: (typeof answers)[number]) =>
        a.status === first?.status && a.body === first.body;
      const statuses: Record<string, number> = {};
      for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      const result = {
        target: target.name,
        mode: target.mode,
        config: target.config,
        shards: target.shards,
        requests: n,
        originCalls: (await origin.ask({ count: key })).count,
        identical: answers.filter(same).length,
        replayed: answers.filter((a) => a.replayed).length,
        statuses,
        wallMs,
      };
      bench.results.contention.push(result);
      bench.log(
        `  ${target.name.padEnd(22)} origin calls ${result.originCalls}, identical answers ${result.identical}/${n}, replayed ${result.replayed}, ${wallMs} ms`,
      );
    }
  } finally {
    await origin.ask({ latencyMs: options.latencyMs });
  }
}

/**
 * Growth: each mapping started afresh with nothing stored, then filled step by step with distinct
 * keys, with first-request and replay cells at each step. Each mapping gets a fair share of the
 * time left, so that a slow one cannot starve the next.
 */
export async function growth(bench: Bench): Promise<void> {
  const { shards } = bench.options;
  bench.log(`\ngrowth: ${bench.options.growth.join(", ")} stored keys`);
  for (const [index, mapping] of shards.entries()) {
    const shareEnd = Date.now() + (bench.deadline - Date.now()) / (shards.length - index);
    await growMapping(bench, mapping, shareEnd);
  }
}

/** The growth steps of one mapping, within its share of the time, which ends at `shareEnd`. */
async function growMapping(bench: Bench, shards: number, shareEnd: number): Promise<void> {
  const { options } = bench;
  await bench.origin.ask({ reset: true });
  const persistTo = path.join(bench.runDir, `growth-${shards}`);
  let target = await bench.startGateway(shards, persistTo);
  try {
    const warm = newKeys(options.warmKeys);
    await prime(target, warm);
    const steps = [0, ...options.growth];
    for (const [index, step] of steps.entries()) {
      // The time the cells of this step and of the steps after it will take.
      const cellS = options.growthDurationS + options.warmupS + 1.5;
      const cellsS = (steps.length - index) * (options.connections.length * 2 * cellS + 8);
      const filled = await fill(bench, target, step, (shareEnd - Date.now()) / 1000 - cellsS);
      if (filled === null) break;
      // The keys stay on disk and the process starts anew: the cells then measure what N stored
      // keys cost, not what a long-running wrangler dev has gathered in memory (its RSS grows
      // with every request served, the bare proxy's too).
      let beforeRestart: GrowthStep["beforeRestart"] = null;
      if (step > 0) {
        beforeRestart = { served: target.served, rss: rss(target) };
        await stopTarget(target);
        target = await bench.startGateway(shards, persistTo);
      }
      const before = { served: target.served, rss: rss(target) };
      const cell = { durationS: options.growthDurationS, storedKeys: filled.stored };
      await measureEach(bench, [target], { ...cell, scenario: "growth-first" }, () => uniqueKey);
      await measureEach(bench, [target], { ...cell, scenario: "growth-replay" }, () => cycle(warm));
      bench.results.growth.push({
        target: target.name,
        shards,
        step,
        storedKeys: filled.stored,
        ...before,
        rssAfter: rss(target),
        fill: filled.fill,
        beforeRestart,
      });
    }
  } finally {
    await stopTarget(target);
  }
}

/**
 * Stores distinct keys until the origin has seen `step` of them, within `budgetS` seconds and
 * `--fill-max`. Null when the step has no time left (noted in the results).
 */
async function fill(
  bench: Bench,
  target: Target,
  step: number,
  budgetS: number,
): Promise<{ stored: number; fill: GrowthStep["fill"] } | null> {
  const { notes } = bench.results;
  const already = (await bench.origin.ask({})).keys;
  if (already >= step) return { stored: already, fill: null };
  if (budgetS < 10) {
    notes.push(
      `growth ${target.name}: step ${step} skipped, its share of --max-minutes was used up`,
    );
    bench.log(`  ${target.name}: skipping step ${step}, its share of --max-minutes is used up`);
    return null;
  }
  const maxS = Math.min(bench.options.fillMaxS, budgetS);
  const load = { connections: 32, amount: step - already, maxS };
  const { seconds, rps, errors } = await runLoad(target, load, uniqueKey);
  const stored = (await bench.origin.ask({})).keys;
  const filled = { seconds: Math.round(seconds * 10) / 10, rps: Math.round(rps), errors };
  bench.log(
    `  ${target.name}: stored ${stored} keys in ${filled.seconds} s (${filled.rps} rps, ${errors} errors)`,
  );
  if (stored < step) {
    notes.push(
      `growth ${target.name}: reached ${stored} of ${step} keys within ${Math.round(maxS)} s (its share of --max-minutes)`,
    );
  }
  return { stored, fill: filled };
}
