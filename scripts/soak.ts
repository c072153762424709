import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setInterval, clearInterval } from "node:timers";
import { parseArgs } from "node:util";
import { startTestOrigin, type SeenRequest, type TestOrigin } from "../harness/test-origin.ts";
import { startWranglerDev, type WranglerDev } from "../harness/wrangler-dev.ts";
import { createClient, type Answer, type Client } from "./soak/client.ts";
import { describeWorkerd, readWorkerd } from "./soak/monitor.ts";
import { buildPlan, SCENARIOS, type Job, type KeySpec } from "./soak/plan.ts";
import { verify, type Stats, type Violation } from "./soak/verify.ts";

/**
 * `npm run soak`: the idempotency load test of issue 6 ("Load"). One gateway under real
 * `wrangler dev` in front of the test origin, both on 127.0.0.1; tens of thousands of requests
 * over thousands of keys, each key playing one origin behaviour for its life (201, 503, 500,
 * reset, truncated body, hang past the 300 ms origin timeout), with shuffled and simultaneous
 * duplicates. Then per key: the origin saw at most one request unless the contract released the
 * key, and every answer equals the stored one (scripts/soak/verify.ts). Bounded in requests and
 * time; exits 1 on any violation; the gateway and the origin are always stopped.
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
  --verbose           echo wrangler's output
  -h, --help`;

interface Options {
  requests: number;
  keys: number;
  concurrency: number;
  seed: number;
  maxSeconds: number;
  timeoutMs: number;
  maxInProgressRate: number;
  verbose: boolean;
}

const ORIGIN_TIMEOUT_MS = 300;
const MAX_DETAILED = 20;

function parseOptions(): Options | null {
  const { values } = parseArgs({
    options: {
      requests: { type: "string" },
      keys: { type: "string" },
      concurrency: { type: "string" },
      seed: { type: "string" },
      quick: { type: "boolean", default: false },
      "max-seconds": { type: "string" },
      "timeout-ms": { type: "string" },
      "max-409-rate": { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return null;
  }
  const number = (name: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) {
      throw new Error(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const options: Options = {
    requests: Math.floor(number("requests", values.requests, values.quick ? 5_000 : 50_000, 1)),
    keys: Math.floor(number("keys", values.keys, values.quick ? 500 : 5_000, 1)),
    concurrency: Math.floor(number("concurrency", values.concurrency, 32, 1)),
    seed: Math.floor(number("seed", values.seed, 1, 0)),
    maxSeconds: number("max-seconds", values["max-seconds"], 600, 1),
    timeoutMs: number("timeout-ms", values["timeout-ms"], 30_000, 1_000),
    maxInProgressRate: number("max-409-rate", values["max-409-rate"], 0.01, 0),
    verbose: values.verbose,
  };
  if (options.requests < options.keys) {
    throw new Error(`--requests (${options.requests}) must be ≥ --keys (${options.keys})`);
  }
  return options;
}

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
      const job = jobs[next++] as T;
      await run(job);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return next;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function formatCounts(counts: Record<string, number>): string {
  return (
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, count]) => `${name}: ${count}`)
      .join(", ") || "none"
  );
}

/** Lines of wrangler's output that point at a gateway-side failure (reported, not judged). */
function gatewayTrouble(output: string): Record<string, number> {
  const patterns: Record<string, RegExp> = {
    "store-failed": /"event":"store-failed"/g,
    uncaught: /Uncaught/g,
    "internal error": /internal error/gi,
    "exceeded (cpu/memory)": /exceeded/gi,
  };
  const found: Record<string, number> = {};
  for (const [name, pattern] of Object.entries(patterns)) {
    const count = output.match(pattern)?.length ?? 0;
    if (count > 0) found[name] = count;
  }
  return found;
}

interface Report {
  options: Options;
  runId: string;
  plan: { requests: number; jobs: number; bursts: number; hotKeys: number };
  sentJobs: number;
  sentRequests: number;
  mainSeconds: number;
  finalSeconds: number;
  latencies: Float64Array;
  stats: Stats;
  violations: Violation[];
  trouble: Record<string, number>;
  peak: { rssMiB: number; fds: number };
  logFile: string | undefined;
  interrupted: boolean;
  stoppedByDeadline: boolean;
}

function printReport(r: Report): void {
  const { options, stats } = r;
  const lines: string[] = [];
  const rps = r.mainSeconds > 0 ? r.sentRequests / r.mainSeconds : 0;
  const sorted = r.latencies.slice().sort();
  lines.push("");
  lines.push(
    `soak ${r.runId}: ${r.sentRequests} of ${r.plan.requests} requests over ${options.keys} keys ` +
      `(${r.plan.hotKeys} hot, ${r.plan.bursts} bursts of 10–50), concurrency ${options.concurrency}, seed ${options.seed}`,
  );
  lines.push(
    `wall time ${r.mainSeconds.toFixed(1)} s (main), ${r.finalSeconds.toFixed(1)} s (final re-send); ` +
      `${rps.toFixed(0)} req/s`,
  );
  lines.push(
    `latency (ms): p50 ${percentile(sorted, 50).toFixed(1)}, p90 ${percentile(sorted, 90).toFixed(1)}, ` +
      `p99 ${percentile(sorted, 99).toFixed(1)}, max ${percentile(sorted, 100).toFixed(1)}`,
  );
  lines.push(`statuses: ${formatCounts(stats.statusCounts)}`);
  const inProgressPct = stats.answers === 0 ? 0 : (stats.inProgress / stats.answers) * 100;
  lines.push(
    `answers ${stats.answers}: fresh forwards ${stats.forwards}, replayed ${stats.replayed} ` +
      `(stored replays and coalesced duplicates), 409 request-in-progress ${stats.inProgress} ` +
      `(${inProgressPct.toFixed(3)}%), network errors ${stats.networkErrors}`,
  );
  lines.push("per scenario:");
  lines.push(
    "  scenario    keys  exercised  requests  origin calls  keys seen ≥2  504 timeouts  final origin calls",
  );
  for (const scenario of SCENARIOS) {
    const s = stats.perScenario[scenario];
    lines.push(
      `  ${scenario.padEnd(10)} ${String(s.keys).padStart(5)} ${String(s.exercised).padStart(10)} ` +
        `${String(s.requests).padStart(9)} ${String(s.originCalls).padStart(13)} ` +
        `${String(s.keysSeenTwiceOrMore).padStart(13)} ${String(s.timeouts).padStart(13)} ` +
        `${String(s.finalOriginCalls).padStart(19)}`,
    );
  }
  lines.push(
    `final re-send: ${stats.finalChecked} keys; statuses: ${formatCounts(stats.finalStatusCounts)}`,
  );
  lines.push(
    `gateway: peak workerd ${r.peak.rssMiB} MiB RSS, ${r.peak.fds} open fds; ` +
      `log trouble: ${formatCounts(r.trouble)}`,
  );
  if (r.stoppedByDeadline) {
    lines.push(
      `INCOMPLETE: --max-seconds ${options.maxSeconds} reached after ${r.sentRequests} requests`,
    );
  }
  const byKind: Record<string, number> = {};
  for (const v of r.violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  lines.push(
    `violations: ${r.violations.length}${r.violations.length > 0 ? ` (${formatCounts(byKind)})` : ""}`,
  );
  for (const v of r.violations.slice(0, MAX_DETAILED)) {
    lines.push(`  - [${v.kind}]${v.key ? ` key ${v.key} (${v.scenario})` : ""}: ${v.detail}`);
  }
  if (r.violations.length > MAX_DETAILED) {
    lines.push(`  … and ${r.violations.length - MAX_DETAILED} more`);
  }
  lines.push(
    r.interrupted
      ? "RESULT: INTERRUPTED"
      : r.violations.length === 0
        ? "RESULT: PASS"
        : "RESULT: FAIL",
  );
  if (r.logFile !== undefined) lines.push(`wrangler's full output: ${r.logFile}`);
  console.log(lines.join("\n"));
}

async function main(): Promise<number> {
  const options = parseOptions();
  if (options === null) return 0;
  const runId = `${options.seed}-${randomBytes(4).toString("hex")}`;
  const plan = buildPlan(options.requests, options.keys, options.seed, runId);

  let origin: TestOrigin | undefined;
  let gateway: WranglerDev | undefined;
  let client: Client | undefined;
  let persistDir: string | undefined;
  let interrupted = false;
  let gatewayExited = false;
  let progress: ReturnType<typeof setInterval> | undefined;

  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // Second Ctrl+C: no more waiting.
      console.error(`\n${signal} again: killing the gateway and exiting`);
      void (gateway?.kill() ?? Promise.resolve()).finally(() => process.exit(130));
      return;
    }
    interrupted = true;
    console.error(`\n${signal}: stopping the soak (again to force)`);
    client?.abortAll();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    origin = await startTestOrigin();
    persistDir = fs.mkdtempSync(path.join(os.tmpdir(), "idempotency-soak-"));
    console.error(`soak: starting wrangler dev in front of the test origin ${origin.url} …`);
    gateway = await startWranglerDev({
      vars: { ORIGIN_URL: origin.url, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: String(ORIGIN_TIMEOUT_MS) },
      persistTo: persistDir,
      env: { X_LOCAL_OBSERVABILITY: "false" },
      inheritOutput: options.verbose,
      readyTimeoutMs: 120_000,
    });
    gateway.process.once("exit", () => {
      gatewayExited = true;
    });
    const health = await fetch(`${gateway.url}/__idempotency/health`);
    if (health.status !== 200) {
      throw new Error(`gateway health check answered ${health.status}: ${await health.text()}`);
    }
    if (interrupted) return 130;

    client = createClient(gateway.url, options.concurrency + 64, options.timeoutMs);
    const sendClient = client;
    const gatewayPgid = gateway.process.pid ?? -1;
    const main: Answer[][] = plan.keys.map(() => []);
    const latencies = new Float64Array(plan.requests);
    let done = 0;
    let sentRequests = 0;
    const peak = { rssMiB: 0, fds: 0 };
    const sample = () => {
      const readings = readWorkerd(gatewayPgid);
      for (const r of readings) {
        peak.rssMiB = Math.max(peak.rssMiB, r.rssMiB);
        peak.fds = Math.max(peak.fds, r.fds);
      }
      return readings;
    };
    const stopped = () => interrupted || gatewayExited;

    console.error(
      `soak: ${plan.requests} requests over ${options.keys} keys against ${gateway.url} ` +
        `(concurrency ${options.concurrency}, seed ${options.seed}, run ${runId})`,
    );
    const started = performance.now();
    const deadline = started + options.maxSeconds * 1000;
    progress = setInterval(() => {
      const seconds = (performance.now() - started) / 1000;
      console.error(
        `  ${done}/${plan.requests} answered, ${seconds.toFixed(0)} s, ` +
          `${(done / seconds).toFixed(0)} req/s; ${describeWorkerd(sample())}`,
      );
    }, 10_000);
    const sentJobs = await runPool(
      plan.jobs,
      options.concurrency,
      deadline,
      stopped,
      async (job: Job) => {
        const spec = plan.keys[job.key] as KeySpec;
        sentRequests += job.count;
        const sends: Promise<Answer>[] = [];
        for (let i = 0; i < job.count; i++) sends.push(sendClient.send(spec, "main"));
        for (const answer of await Promise.all(sends)) {
          (main[job.key] as Answer[]).push(answer);
          if (done < latencies.length) latencies[done] = answer.endedAt - answer.startedAt;
          done++;
        }
      },
    );
    const mainSeconds = (performance.now() - started) / 1000;
    clearInterval(progress);
    progress = undefined;
    sample();
    const stoppedByDeadline = sentJobs < plan.jobs.length && !stopped();

    if (interrupted) {
      console.error(`soak: interrupted after ${done} answers; no verdict`);
      return 130;
    }

    // Let the origin finish logging requests whose answers the gateway gave up on (timeouts).
    await sleep(500);
    const snapshot = (): SeenRequest[][] =>
      plan.keys.map((k) => [...(origin as TestOrigin).requests(k.key)]);
    const originBefore = snapshot();

    // One re-send per exercised key, after all traffic (not when the gateway is gone).
    const final: (Answer | undefined)[] = plan.keys.map(() => undefined);
    const exercised = plan.keys.filter((k) => (main[k.index] as Answer[]).length > 0);
    const finalStarted = performance.now();
    const finalDeadline = finalStarted + Math.max(60, options.maxSeconds / 4) * 1000;
    await runPool(exercised, options.concurrency, finalDeadline, stopped, async (spec) => {
      final[spec.index] = await sendClient.send(spec, "final");
    });
    const finalSeconds = (performance.now() - finalStarted) / 1000;
    if (interrupted) {
      console.error("soak: interrupted during the final re-send; no verdict");
      return 130;
    }
    await sleep(500);
    const originAfter = snapshot();
    sample();

    const { violations, stats } = verify({
      keys: plan.keys,
      main,
      final,
      originBefore,
      originAfter,
      maxInProgressRate: options.maxInProgressRate,
    });
    const output = gateway.output();
    const crashes = output.match(/The Workers runtime crashed unexpectedly/g)?.length ?? 0;
    if (crashes > 0) {
      violations.unshift({
        kind: "runtime-crash",
        detail: `workerd crashed ${crashes}× during the soak (wrangler: "The Workers runtime crashed unexpectedly"); peak workerd ${peak.rssMiB} MiB RSS, ${peak.fds} fds`,
      });
    }
    if (gatewayExited) {
      const tail = output.trimEnd().split("\n").slice(-8).join("\n    ");
      violations.unshift({
        kind: "gateway-exited",
        detail: `wrangler dev exited during the soak after ${done} answers; its last lines:\n    ${tail}`,
      });
    }
    const unchecked = exercised.length - stats.finalChecked;
    if (unchecked > 0 && !gatewayExited) {
      violations.push({
        kind: "final-incomplete",
        detail: `${unchecked} keys were not re-sent before the final pass's deadline`,
      });
    }
    let logFile: string | undefined;
    if (violations.length > 0) {
      logFile = path.join(os.tmpdir(), `idempotency-soak-${runId}.log`);
      fs.writeFileSync(logFile, output);
    }
    printReport({
      options,
      runId,
      plan: {
        requests: plan.requests,
        jobs: plan.jobs.length,
        bursts: plan.bursts,
        hotKeys: plan.hotKeys,
      },
      sentJobs,
      sentRequests,
      mainSeconds,
      finalSeconds,
      latencies: latencies.subarray(0, Math.min(done, latencies.length)),
      stats,
      violations,
      trouble: gatewayTrouble(output),
      peak,
      logFile,
      interrupted,
      stoppedByDeadline,
    });
    return violations.length === 0 ? 0 : 1;
  } finally {
    if (progress !== undefined) clearInterval(progress);
    client?.abortAll();
    client?.close();
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
