import type { TestOrigin } from "../../harness/test-origin.ts";
import { send, type Answer } from "./client.ts";
import type { KeySpec } from "./plan.ts";
import type { Violation } from "./verify.ts";

/**
 * The soak's re-forward phase (docs/adr/0011): a route under `IDEMPOTENCY_UNKNOWN_OUTCOME=
 * reforward` in front of the test origin's `/dedupe`, which deduplicates on the forwarded
 * `Idempotency-Key` as a payment API does and counts the times it executed each key
 * (`harness/test-origin.ts`).
 *
 * Half the keys are **held**: their first attempt waits at a gate of the origin past the
 * gateway's origin timeout, so the gateway answers `504` and the record is `unknown`. A burst of
 * retries then meets the origin still executing (its `409`, never stored); the gate opens; a
 * second burst is re-forwarded, gets the origin's kept answer, and stores it; retries follow
 * until one gets it, as a client's would. The other half are answered at once (or, on a loaded
 * machine, time out and are settled the same way). Per key: the origin executed it at most once (a double execution is the
 * failure this phase exists to find), a held key exactly once, and every `201` the clients got
 * is the same charge.
 */

/** The origin's deduplicating path; `/dedupe/<gate>` holds the first execution at a gate. */
export const REFORWARD_PREFIX = "/dedupe";

/** Duplicates sent together in each burst. */
const BURST = 4;

/**
 * Keys in play at once. A held first attempt keeps its connection to the origin open until its
 * gate opens (the origin answers nobody before), so more of them at once would use up the
 * runtime's connections to the origin and time out unrelated calls.
 */
const KEYS_AT_ONCE = 4;

/**
 * The phase's origin timeout: the soak's 300 ms is made for its injected hangs, and on a loaded
 * machine an answered re-forward could miss it. A held first attempt still outlives it.
 */
const PHASE_ORIGIN_TIMEOUT_MS = 1_000;

/** Retries after the bursts, until one gets the stored answer; as a client would, with a pause. */
const SETTLE_ATTEMPTS = 10;
const SETTLE_PAUSE_MS = 200;

/** How long a held first attempt may take to reach the origin's gate. */
const ARRIVAL_LIMIT_MS = 30_000;

/**
 * The `IDEMPOTENCY_ROUTES` entry of the phase: re-forward unknown outcomes on `/dedupe/*`, inside
 * a window the test origin honours for its whole run.
 */
export function routeOverrides(): Record<string, Record<string, string>> {
  const reforward = {
    IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
    IDEMPOTENCY_ORIGIN_KEY_SECONDS: "3600",
    IDEMPOTENCY_ORIGIN_TIMEOUT_MS: String(PHASE_ORIGIN_TIMEOUT_MS),
  };
  return { [REFORWARD_PREFIX]: reforward, [`${REFORWARD_PREFIX}/*`]: reforward };
}

/** What the phase saw. */
export interface ReforwardStats {
  keys: number;
  held: number;
  requests: number;
  statusCounts: Record<string, number>;
  /** Executions the origin counted, over every key. */
  executions: number;
  doubleExecutions: number;
  seconds: number;
}

/** The phase's keys: `count` of them, unique to the run, every other one held. */
function phaseKeys(count: number, runId: string): (KeySpec & { held: boolean })[] {
  return Array.from({ length: count }, (_, index) => {
    const held = index % 2 === 0;
    const key = `soak-reforward-${runId}-${index}`;
    return {
      index,
      key,
      scenario: "normal",
      // A held key's gate is named after it: the origin holds only its first execution.
      path: held ? `${REFORWARD_PREFIX}/${key}` : REFORWARD_PREFIX,
      authorization: `Bearer sk_soak_${index % 3}`,
      body: JSON.stringify({ amount: 100 + index }),
      held,
    };
  });
}

function burst(url: string, spec: KeySpec, timeoutMs: number, stop: AbortSignal) {
  return Promise.all(Array.from({ length: BURST }, () => send(url, spec, timeoutMs, stop)));
}

/** Resolves once `gate` holds a request, or rejects after `ARRIVAL_LIMIT_MS`. */
function arrived(origin: TestOrigin, gate: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("never reached the origin")), ARRIVAL_LIMIT_MS);
  });
  return Promise.race([origin.arrivals(gate, 1), limit]).finally(() => clearTimeout(timer));
}

/**
 * Runs the phase against the gateway at `url` and checks it.
 *
 * @param options.concurrency - keys in play at once (at most `KEYS_AT_ONCE`)
 * @example
 * const { stats, violations } = await runReforwardPhase(url, origin, { keys: 50, runId, concurrency: 16, timeoutMs: 30_000, stop });
 */
export async function runReforwardPhase(
  url: string,
  origin: TestOrigin,
  options: {
    keys: number;
    runId: string;
    concurrency: number;
    timeoutMs: number;
    stop: AbortSignal;
  },
): Promise<{ stats: ReforwardStats; violations: Violation[] }> {
  const started = performance.now();
  const specs = phaseKeys(options.keys, options.runId);
  const answers = new Map<string, Answer[]>();
  const violations: Violation[] = [];

  const play = async (spec: KeySpec & { held: boolean }) => {
    const seen: Answer[] = [];
    answers.set(spec.key, seen);
    const first = send(url, spec, options.timeoutMs, options.stop);
    if (spec.held) {
      await arrived(origin, spec.key).catch((error: unknown) => {
        violations.push({ kind: "reforward-no-arrival", key: spec.key, detail: String(error) });
      });
      seen.push(await first);
      // The origin is still executing the first attempt: re-forwarded, its 409 is passed on.
      seen.push(...(await burst(url, spec, options.timeoutMs, options.stop)));
      origin.release(spec.key);
    } else {
      seen.push(await first);
    }
    seen.push(...(await burst(url, spec, options.timeoutMs, options.stop)));
    // A client on a re-forwarding route retries a 409 or a 504 with the same key, after a pause.
    for (let attempt = 1; attempt <= SETTLE_ATTEMPTS && seen.at(-1)?.status !== 201; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_PAUSE_MS * attempt));
      seen.push(await send(url, spec, options.timeoutMs, options.stop));
    }
    // One more: the stored answer, replayed.
    seen.push(await send(url, spec, options.timeoutMs, options.stop));
  };

  let next = 0;
  const worker = async () => {
    while (next < specs.length && !options.stop.aborted) {
      await play(specs[next++] as KeySpec & { held: boolean });
    }
  };
  const workers = Math.min(options.concurrency, KEYS_AT_ONCE, specs.length);
  await Promise.all(Array.from({ length: workers }, worker));

  const statusCounts: Record<string, number> = {};
  let executions = 0;
  let doubleExecutions = 0;
  for (const spec of specs) {
    const seen = answers.get(spec.key) ?? [];
    for (const answer of seen) {
      const label =
        answer.code === undefined ? String(answer.status) : `${answer.status} ${answer.code}`;
      statusCounts[label] = (statusCounts[label] ?? 0) + 1;
      if (![201, 409, 504].includes(answer.status)) {
        violations.push({
          kind: "reforward-unexpected-status",
          key: spec.key,
          detail: `${answer.status}${answer.error ? ` (${answer.error})` : ""}: ${answer.bodyHead}`,
        });
      }
    }
    const count = origin.executions(spec.key);
    executions += count;
    if (count > 1) {
      doubleExecutions++;
      violations.push({
        kind: "double-execution",
        key: spec.key,
        detail: `the origin executed the key ${count} times`,
      });
    }
    const charges = new Set(seen.filter((a) => a.status === 201).map((a) => a.bodyHash));
    if (charges.size > 1) {
      violations.push({
        kind: "reforward-answers-differ",
        key: spec.key,
        detail: `${charges.size} different 201 bodies for one key`,
      });
    }
    const last = seen.at(-1);
    if (count !== 1 || last?.status !== 201) {
      violations.push({
        kind: "reforward-not-settled",
        key: spec.key,
        detail: `executed ${count} times; last answer ${last?.status ?? "none"}${last?.code ? ` ${last.code}` : ""}`,
      });
    }
  }
  const requests = [...answers.values()].reduce((sum, seen) => sum + seen.length, 0);
  return {
    stats: {
      keys: specs.length,
      held: specs.filter((spec) => spec.held).length,
      requests,
      statusCounts,
      executions,
      doubleExecutions,
      seconds: (performance.now() - started) / 1000,
    },
    violations,
  };
}
