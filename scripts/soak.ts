import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { groupProcesses, readMemory } from "../harness/proc.ts";
import { summarize } from "../harness/stats.ts";
import { startTestOrigin, type TestOrigin } from "../harness/test-origin.ts";
import { startWranglerDev, type WranglerDev } from "../harness/wrangler-dev.ts";
import { send, type Answer } from "./soak/client.ts";
import { buildPlan, type KeySpec, type Plan } from "./soak/plan.ts";
import { routeOverrides, runReforwardPhase, type ReforwardStats } from "./soak/reforward.ts";
import { verify, type Stats, type Violation } from "./soak/verify.ts";

/**
 * `npm run soak`: the idempotency load check (docs/security.md, "Reliability and security"). One gateway
 * (its two Workers, the gateway and the coordinator Worker, in one session of real `wrangler dev`)
 * in front of the test origin, both on 127.0.0.1; tens of thousands of
 * requests over thousands of keys, each key playing one origin behaviour for its life (201, 503,
 * 500, reset, truncated body, hang past the 300 ms origin timeout), with shuffled and simultaneous
 * duplicates. Then per key: the origin saw at most one request unless the contract released the
 * key, and every answer equals the stored one (scripts/soak/verify.ts). Then a re-forward phase
 * (scripts/soak/reforward.ts): keys on a route under `IDEMPOTENCY_UNKNOWN_OUTCOME=reforward`,
 * half held at the origin past its timeout, against an origin that deduplicates on the key; the
 * origin must execute each exactly once. Bounded in requests and time; exits 1 on any violation;
 * the gateway and the origin are always stopped.
 */

const HELP = `Usage: npm run soak -- [options]

  --requests N        requests to send (default 50000)
  --keys N            distinct Idempotency-Keys (default 5000)
  --concurrency N     requests in flight (default 32; a burst adds its duplicates on top)
  --seed N            PRNG seed of the workload (default 1)
  --quick             5000 requests over 500 keys
  --max-seconds S     stop issuing requests after S seconds and report (default 600)
  --timeout-ms MS     client timeout per request (default 30000)
  --max-409-rate R    largest acceptable share of 409 request-in-progress answers (default 0.01)
  --keep-mapping      run the final re-send under the same key mapping (by default the
                      gateway is restarted mid-run with IDEMPOTENCY_SHARDS changed by migration)
  --reforward-keys N  keys of the re-forward phase, after the final re-send: a route under
                      IDEMPOTENCY_UNKNOWN_OUTCOME=reforward before an origin that deduplicates
                      on the key, half of them held past the origin timeout (default 500;
                      --quick 50; 0 skips it)
  --verbose           echo wrangler's output
  -h, --help`;

const ORIGIN_TIMEOUT_MS = 300;
/** The key mapping of the main traffic, and the one the final re-send migrates to. */
const SHARDS_BEFORE = 64;
const SHARDS_AFTER = 128;
const MAX_DETAILED = 20;

/** Parses the command line; null after printing the help. */
function parseOptions() {
  const number = { type: "string" } as const;
  const { values } = parseArgs({
    options: {
      ...{ requests: number, keys: number, concurrency: number, seed: number },
      ...{ "max-seconds": number, "timeout-ms": number, "max-409-rate": number },
      "reforward-keys": number,
      ...{ quick: { type: "boolean" }, verbose: { type: "boolean" } },
      "keep-mapping": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help === true) {
    console.log(HELP);
    return null;
  }
  const num = (name: keyof typeof values, fallback: number, min: number) => {
    const value = values[name] === undefined ? fallback : Number(values[name]);
    if (!(value >= min)) throw new Error(`--${name} must be a number ≥ ${min}`);
    return value;
  };
  const options = {
    requests: Math.floor(num("requests", values.quick ? 5_000 : 50_000, 1)),
    keys: Math.floor(num("keys", values.quick ? 500 : 5_000, 1)),
    concurrency: Math.floor(num("concurrency", 32, 1)),
    seed: Math.floor(num("seed", 1, 0)),
    maxSeconds: num("max-seconds", 600, 1),
    timeoutMs: num("timeout-ms", 30_000, 1_000),
    maxInProgressRate: num("max-409-rate", 0.01, 0),
    verbose: values.verbose === true,
    migrate: values["keep-mapping"] !== true,
    reforwardKeys: Math.floor(num("reforward-keys", values.quick ? 50 : 500, 0)),
  };
  if (options.requests < options.keys) {
    throw new Error(`--requests (${options.requests}) must be ≥ --keys (${options.keys})`);
  }
  return options;
}

type Options = NonNullable<ReturnType<typeof parseOptions>>;

/** Runs `jobs` with at most `concurrency` at a time until done, `deadline` or `stopped()`. */
async function runPool<T>(
  jobs: readonly T[],
  concurrency: number,
  deadline: number,
  stopped: () => boolean,
  run: (job: T) => Promise<void>,
): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && !stopped() && performance.now() < deadline) {
      await run(jobs[next++] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return next;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** "a: 1, b: 2", sorted by name, or "none". */
function formatCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.map(([name, count]) => `${name}: ${count}`).join(", ") || "none";
}

/** How often each pattern occurs in `text`, for those that do. */
function countMatches(text: string, patterns: Record<string, RegExp>): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [name, pattern] of Object.entries(patterns)) {
    const count = text.match(pattern)?.length ?? 0;
    if (count > 0) found[name] = count;
  }
  return found;
}

/** Lines of wrangler's output that point at a gateway-side failure (reported, not judged). */
const TROUBLE = {
  "store-failed": /"event":"store-failed"/g,
  uncaught: /Uncaught/g,
  "internal error": /internal error/gi,
  "exceeded (cpu/memory)": /exceeded/gi,
};

/** Reads the gateway's workerd processes: a line for the progress, and the peaks so far. */
function workerdMonitor(pgid: number) {
  const peak = { rssMiB: 0, fds: 0 };
  const sample = (): string => {
    const parts: string[] = [];
    for (const { pid, comm } of groupProcesses(pgid)) {
      const memory = comm === "workerd" ? readMemory(pid) : null;
      if (memory === null) continue;
      const rssMiB = Math.round(memory.rssKiB / 1024);
      peak.rssMiB = Math.max(peak.rssMiB, rssMiB);
      peak.fds = Math.max(peak.fds, memory.fds);
      parts.push(`workerd ${pid}: ${rssMiB} MiB, ${memory.fds} fds, ${memory.threads} threads`);
    }
    return parts.join("; ");
  };
  return { peak, sample };
}

/** The main traffic, as sent. */
interface Traffic {
  /** Answers per key index. */
  main: Answer[][];
  /** Latency of each answer, ms. */
  latencies: number[];
  sentRequests: number;
  seconds: number;
  /** `--max-seconds` stopped it before every job was sent. */
  incomplete: boolean;
}

/** Sends every job of the plan, `--concurrency` at a time, with a progress line every 10 s. */
async function sendTraffic(
  plan: Plan,
  options: Options,
  sendKey: (spec: KeySpec) => Promise<Answer>,
  stopped: () => boolean,
  progress: () => string,
): Promise<Traffic> {
  const traffic: Traffic = {
    main: plan.keys.map(() => []),
    latencies: [],
    sentRequests: 0,
    seconds: 0,
    incomplete: false,
  };
  const started = performance.now();
  const ticker = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    const done = traffic.latencies.length;
    console.error(
      `  ${done}/${plan.requests} answered, ${seconds.toFixed(0)} s, ${(done / seconds).toFixed(0)} req/s; ${progress()}`,
    );
  }, 10_000);
  try {
    const deadline = started + options.maxSeconds * 1000;
    const sent = await runPool(plan.jobs, options.concurrency, deadline, stopped, async (job) => {
      const spec = plan.keys[job.key] as KeySpec;
      traffic.sentRequests += job.count;
      const answers = await Promise.all(Array.from({ length: job.count }, () => sendKey(spec)));
      for (const answer of answers) {
        traffic.main[job.key]?.push(answer);
        traffic.latencies.push(answer.endedAt - answer.startedAt);
      }
    });
    traffic.incomplete = sent < plan.jobs.length && !stopped();
  } finally {
    clearInterval(ticker);
  }
  traffic.seconds = (performance.now() - started) / 1000;
  return traffic;
}

/** Violations that come from the gateway process rather than from one key's answers. */
function gatewayViolations(
  output: string,
  exited: boolean,
  answers: number,
  peak: { rssMiB: number; fds: number },
): Violation[] {
  const found: Violation[] = [];
  if (exited) {
    const tail = output.trimEnd().split("\n").slice(-8).join("\n    ");
    found.push({
      kind: "gateway-exited",
      detail: `wrangler dev exited during the soak after ${answers} answers; its last lines:\n    ${tail}`,
    });
  }
  const crashes = output.match(/The Workers runtime crashed unexpectedly/g)?.length ?? 0;
  if (crashes > 0) {
    found.push({
      kind: "runtime-crash",
      detail: `workerd crashed ${crashes}× during the soak (wrangler: "The Workers runtime crashed unexpectedly"); peak workerd ${peak.rssMiB} MiB RSS, ${peak.fds} fds`,
    });
  }
  return found;
}

/** Prints the counts, the per-scenario table and the violations. */
function printReport(
  run: {
    options: Options;
    runId: string;
    plan: Plan;
    traffic: Traffic;
    finalSeconds: number;
    reforward: ReforwardStats | null;
  },
  stats: Stats,
  violations: Violation[],
  gateway: {
    peak: { rssMiB: number; fds: number };
    trouble: Record<string, number>;
    logFile?: string;
  },
): void {
  const { options, plan, traffic } = run;
  const l = summarize(traffic.latencies);
  const rps = traffic.seconds > 0 ? traffic.sentRequests / traffic.seconds : 0;
  const inProgressPct = stats.answers === 0 ? 0 : (stats.inProgress / stats.answers) * 100;
  console.log(`
soak ${run.runId}: ${traffic.sentRequests} of ${plan.requests} requests over ${options.keys} keys (${plan.hotKeys} hot, ${plan.bursts} bursts of 10–50), concurrency ${options.concurrency}, seed ${options.seed}
key mapping: ${options.migrate ? `main traffic under IDEMPOTENCY_SHARDS=${SHARDS_BEFORE}; final re-send after a restart migrating to ${SHARDS_AFTER} (IDEMPOTENCY_SHARDS_PREVIOUS=${SHARDS_BEFORE})` : `IDEMPOTENCY_SHARDS=${SHARDS_BEFORE} throughout (--keep-mapping)`}
wall time ${traffic.seconds.toFixed(1)} s (main), ${run.finalSeconds.toFixed(1)} s (final re-send); ${rps.toFixed(0)} req/s
latency (ms): p50 ${l.p50.toFixed(1)}, p90 ${l.p90.toFixed(1)}, p99 ${l.p99.toFixed(1)}, max ${l.max.toFixed(1)}
statuses: ${formatCounts(stats.statusCounts)}
answers ${stats.answers}: fresh forwards ${stats.forwards}, replayed ${stats.replayed} (stored replays and coalesced duplicates), 409 request-in-progress ${stats.inProgress} (${inProgressPct.toFixed(3)}%), network errors ${stats.networkErrors}
per scenario:`);
  const rows = Object.entries(stats.perScenario).map(([scenario, s]) => [
    scenario,
    {
      keys: s.keys,
      exercised: s.exercised,
      requests: s.requests,
      "origin calls": s.originCalls,
      "keys seen ≥2": s.keysSeenTwiceOrMore,
      "504 timeouts": s.timeouts,
      "final origin calls": s.finalOriginCalls,
    },
  ]);
  console.table(Object.fromEntries(rows));
  const byKind: Record<string, number> = {};
  for (const v of violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  const lines = [
    `final re-send: ${stats.finalChecked} keys; statuses: ${formatCounts(stats.finalStatusCounts)}`,
    ...(run.reforward === null
      ? ["re-forward phase: skipped (--reforward-keys 0)"]
      : [
          `re-forward phase (IDEMPOTENCY_UNKNOWN_OUTCOME=reforward, origin deduplicating on the key): ${run.reforward.keys} keys (${run.reforward.held} held past the origin timeout), ${run.reforward.requests} requests in ${run.reforward.seconds.toFixed(1)} s; statuses: ${formatCounts(run.reforward.statusCounts)}`,
          `re-forward phase: origin executions ${run.reforward.executions} for ${run.reforward.keys} keys; double executions: ${run.reforward.doubleExecutions}`,
        ]),
    `gateway: peak workerd ${gateway.peak.rssMiB} MiB RSS, ${gateway.peak.fds} open fds; log trouble: ${formatCounts(gateway.trouble)}`,
    ...(traffic.incomplete
      ? [
          `INCOMPLETE: --max-seconds ${options.maxSeconds} reached after ${traffic.sentRequests} requests`,
        ]
      : []),
    `violations: ${violations.length}${violations.length > 0 ? ` (${formatCounts(byKind)})` : ""}`,
    ...violations
      .slice(0, MAX_DETAILED)
      .map((v) => `  - [${v.kind}]${v.key ? ` key ${v.key} (${v.scenario})` : ""}: ${v.detail}`),
    ...(violations.length > MAX_DETAILED
      ? [`  … and ${violations.length - MAX_DETAILED} more`]
      : []),
    violations.length === 0 ? "RESULT: PASS" : "RESULT: FAIL",
    ...(gateway.logFile !== undefined ? [`wrangler's full output: ${gateway.logFile}`] : []),
  ];
  console.log(lines.join("\n"));
}

/** Starts everything, sends the traffic and the final re-sends, checks; the exit code. */
async function main(): Promise<number> {
  const options = parseOptions();
  if (options === null) return 0;
  const runId = `${options.seed}-${randomBytes(4).toString("hex")}`;
  const plan = buildPlan(options.requests, options.keys, options.seed, runId);

  let origin: TestOrigin | undefined;
  let gateway: WranglerDev | undefined;
  let persistDir: string | undefined;
  const gatewayOutput: string[] = [];
  let interrupted = false;
  let gatewayExited = false;
  // Aborts every request in flight on Ctrl+C; a second Ctrl+C does not wait for anything.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      console.error(`\n${signal} again: killing the gateway and exiting`);
      void (gateway?.kill() ?? Promise.resolve()).finally(() => process.exit(130));
      return;
    }
    interrupted = true;
    console.error(`\n${signal}: stopping the soak (again to force)`);
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    const testOrigin = await startTestOrigin();
    origin = testOrigin;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idempotency-soak-"));
    persistDir = dir;
    /** Starts the gateway on the soak's storage, with `vars` on top of the soak's settings. */
    const start = async (vars: Record<string, string>) => {
      const dev = await startWranglerDev({
        vars: {
          ORIGIN_URL: testOrigin.url,
          IDEMPOTENCY_ORIGIN_TIMEOUT_MS: String(ORIGIN_TIMEOUT_MS),
          // The re-forward phase's route; the main traffic's paths keep the defaults.
          IDEMPOTENCY_ROUTES: JSON.stringify(routeOverrides()),
          ...vars,
        },
        persistTo: dir,
        // wrangler's local trace collector costs about as much CPU as the gateway (bench/README.md).
        env: { X_LOCAL_OBSERVABILITY: "false" },
        inheritOutput: options.verbose,
        readyTimeoutMs: 120_000,
      });
      dev.process.once("exit", () => (gatewayExited = true));
      const health = await fetch(`${dev.url}/__idempotency/health`);
      if (health.status !== 200) {
        throw new Error(`gateway health check answered ${health.status}: ${await health.text()}`);
      }
      return dev;
    };
    console.error(`soak: starting wrangler dev in front of the test origin ${testOrigin.url} …`);
    gateway = await start({ IDEMPOTENCY_SHARDS: String(SHARDS_BEFORE) });
    if (interrupted) return 130;

    let url = gateway.url;
    const sendKey = (spec: KeySpec) => send(url, spec, options.timeoutMs, stop.signal);
    const monitor = workerdMonitor(gateway.process.pid ?? -1);
    const stopped = () => interrupted || gatewayExited;
    console.error(
      `soak: ${plan.requests} requests over ${options.keys} keys against ${url} (concurrency ${options.concurrency}, seed ${options.seed}, run ${runId})`,
    );
    const traffic = await sendTraffic(plan, options, sendKey, stopped, monitor.sample);
    monitor.sample();
    if (interrupted) {
      console.error(`soak: interrupted after ${traffic.latencies.length} answers; no verdict`);
      return 130;
    }

    // Let the origin finish logging requests whose answers the gateway gave up on (timeouts).
    await sleep(500);
    const snapshot = () => plan.keys.map((k) => [...testOrigin.requests(k.key)]);
    const originBefore = snapshot();

    if (options.migrate) {
      // Mid-run, the key mapping changes the only safe way (docs/adr/0006): the same storage,
      // a new shard count, the old one as IDEMPOTENCY_SHARDS_PREVIOUS. Every key must still be
      // found: the final re-send below may not reach the origin for any key it holds.
      console.error(
        `soak: restarting with IDEMPOTENCY_SHARDS=${SHARDS_AFTER}, IDEMPOTENCY_SHARDS_PREVIOUS=${SHARDS_BEFORE} …`,
      );
      gatewayOutput.push(gateway.output());
      await gateway.stop();
      gatewayExited = false;
      gateway = await start({
        IDEMPOTENCY_SHARDS: String(SHARDS_AFTER),
        IDEMPOTENCY_SHARDS_PREVIOUS: String(SHARDS_BEFORE),
      });
      url = gateway.url;
    }

    // One re-send per exercised key, after all traffic (not when the gateway is gone).
    const final: (Answer | undefined)[] = plan.keys.map(() => undefined);
    const exercised = plan.keys.filter((k) => (traffic.main[k.index]?.length ?? 0) > 0);
    const finalStarted = performance.now();
    const finalDeadline = finalStarted + Math.max(60, options.maxSeconds / 4) * 1000;
    await runPool(exercised, options.concurrency, finalDeadline, stopped, async (spec) => {
      final[spec.index] = await sendKey(spec);
    });
    const finalSeconds = (performance.now() - finalStarted) / 1000;
    if (interrupted) {
      console.error("soak: interrupted during the final re-send; no verdict");
      return 130;
    }
    await sleep(500);
    const originAfter = snapshot();
    monitor.sample();

    let reforward: { stats: ReforwardStats; violations: Violation[] } | null = null;
    if (options.reforwardKeys > 0) {
      console.error(`soak: re-forward phase, ${options.reforwardKeys} keys …`);
      reforward = await runReforwardPhase(url, testOrigin, {
        keys: options.reforwardKeys,
        runId,
        concurrency: options.concurrency,
        timeoutMs: options.timeoutMs,
        stop: stop.signal,
      });
      if (interrupted) {
        console.error("soak: interrupted during the re-forward phase; no verdict");
        return 130;
      }
      monitor.sample();
    }

    const { main } = traffic;
    const input = { keys: plan.keys, main, final, originBefore, originAfter };
    const { violations, stats } = verify({
      ...input,
      maxInProgressRate: options.maxInProgressRate,
    });
    const output = [...gatewayOutput, gateway.output()].join("\n");
    const answers = traffic.latencies.length;
    violations.unshift(...gatewayViolations(output, gatewayExited, answers, monitor.peak));
    violations.push(...(reforward?.violations ?? []));
    const unchecked = exercised.length - stats.finalChecked;
    if (unchecked > 0 && !gatewayExited) {
      const detail = `${unchecked} keys were not re-sent before the final pass's deadline`;
      violations.push({ kind: "final-incomplete", detail });
    }
    let logFile: string | undefined;
    if (violations.length > 0) {
      logFile = path.join(os.tmpdir(), `idempotency-soak-${runId}.log`);
      fs.writeFileSync(logFile, output);
    }
    const trouble = countMatches(output, TROUBLE);
    const run = {
      options,
      runId,
      plan,
      traffic,
      finalSeconds,
      reforward: reforward?.stats ?? null,
    };
    printReport(run, stats, violations, {
      peak: monitor.peak,
      trouble,
      ...(logFile ? { logFile } : {}),
    });
    return violations.length === 0 ? 0 : 1;
  } finally {
    stop.abort();
    await gateway?.stop().catch(() => undefined);
    await origin?.close().catch(() => undefined);
    if (persistDir !== undefined) fs.rmSync(persistDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
