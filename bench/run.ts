import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { format, resolveConfig } from "prettier";
import { PROJECT_ROOT, startWranglerDev, type WranglerDev } from "../harness/wrangler-dev.ts";
import { REQUEST, runLoad } from "./load.ts";
import { cpuMeter, groupCpu, processCpuMs, workerdRss, type WorkerdRss } from "./procs.ts";
import {
  evaluateTargets,
  renderConsoleTable,
  renderMarkdown,
  type BenchResults,
  type Cell,
  type ContentionResult,
  type GrowthStep,
  type Machine,
} from "./report.ts";
import { renderChart } from "./chart.ts";

/**
 * `npm run bench`: the gateway against a bare pass-through Worker, side by side, on loopback.
 * See bench/README.md for what each scenario shows. Every loop here is bounded in count and
 * time, and every process started is stopped at the end, on error and on Ctrl-C too.
 */

const HELP = `Usage: npm run bench -- [options]

  --duration S            seconds per measured cell (default 10)
  --warmup S              seconds of unmeasured load before each cell (default 1)
  --quick                 smoke run: 2 s cells, 0.5 s warm-up, growth 2000,5000
  --shards LIST           gateway key mappings to compare, IDEMPOTENCY_SHARDS values (default 0,64)
  --gateway-var NAME:VALUE
                          an extra wrangler var for every gateway (repeatable), e.g.
                          IDEMPOTENCY_REQUEST_LOGS:false
  --connections LIST      autocannon connections (default 1,32)
  --latency MS            origin latency (default 20)
  --contention-latency MS origin latency in the contention scenario (default 200)
  --contention N          concurrent duplicates of one key (default 200)
  --warm-keys N           keys cycled by the replay scenario (default 300)
  --growth LIST           stored-key steps of the growth scenario (default 10000,50000)
  --growth-duration S     seconds per growth cell (default: 0.3 × --duration)
  --fill-max S            longest time to spend storing keys for one growth step (default 240)
  --scenarios LIST        first,replay,contention,growth (default: all)
  --ref GIT_REF           benchmark the gateway as committed at GIT_REF (git archive) instead of
                          the working tree
  --out DIR               where to write results (default bench/results; bench/.tmp/results
                          with --quick)
  --no-readme             do not update the results section of bench/README.md
  --render FILE.json      only write the .md and .svg of a stored run again (and the README
                          section, if FILE is in bench/results/)
  --quiet-pct P           a cell counts as disturbed when processes outside the run used more
                          than P% of the machine's CPU during it (default 10)
  --quiet-wait S          before each cell, wait up to S s for such load to stop (default 60)
  --retries N             measure a disturbed cell again, up to N times (default 2)
  --max-minutes M         time budget: no waiting or retries in its last 3 minutes, and growth
                          steps stop filling at its end (default 11)
  -h, --help`;

const SCENARIOS = ["first", "replay", "contention", "growth"] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Options {
  gatewayVars: Record<string, string>;
  durationS: number;
  warmupS: number;
  quick: boolean;
  shards: number[];
  connections: number[];
  latencyMs: number;
  contentionLatencyMs: number;
  contentionN: number;
  warmKeys: number;
  growth: number[];
  growthDurationS: number;
  fillMaxS: number;
  scenarios: Scenario[];
  ref: string | null;
  out: string;
  readme: boolean;
  render: string | null;
  maxMinutes: number;
  quietPct: number;
  quietWaitS: number;
  retries: number;
}

function numberList(text: string, name: string): number[] {
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`--${name} must be a comma-separated list of whole numbers: ${text}`);
  }
  return values;
}

function positive(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number ≥ 0`);
  return value;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string" },
      warmup: { type: "string" },
      quick: { type: "boolean", default: false },
      shards: { type: "string", default: "0,64" },
      "gateway-var": { type: "string", multiple: true, default: [] },
      connections: { type: "string", default: "1,32" },
      latency: { type: "string" },
      "contention-latency": { type: "string" },
      contention: { type: "string" },
      "warm-keys": { type: "string" },
      growth: { type: "string" },
      "growth-duration": { type: "string" },
      "fill-max": { type: "string" },
      scenarios: { type: "string", default: SCENARIOS.join(",") },
      ref: { type: "string" },
      out: { type: "string" },
      "no-readme": { type: "boolean", default: false },
      render: { type: "string" },
      "max-minutes": { type: "string" },
      "quiet-pct": { type: "string" },
      "quiet-wait": { type: "string" },
      retries: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  const quick = values.quick;
  const durationS = positive(values.duration, quick ? 2 : 10, "duration");
  const scenarios = values.scenarios.split(",").map((s) => s.trim());
  for (const scenario of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(scenario)) {
      throw new Error(`--scenarios: unknown scenario ${scenario} (${SCENARIOS.join(", ")})`);
    }
  }
  return {
    durationS,
    warmupS: positive(values.warmup, quick ? 0.5 : 1, "warmup"),
    quick,
    gatewayVars: Object.fromEntries(
      values["gateway-var"].map((pair) => {
        const at = pair.indexOf(":");
        if (at <= 0) throw new Error(`--gateway-var wants NAME:VALUE, got ${pair}`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    ),
    shards: numberList(values.shards, "shards"),
    connections: numberList(values.connections, "connections").filter((c) => c > 0),
    latencyMs: positive(values.latency, 20, "latency"),
    contentionLatencyMs: positive(values["contention-latency"], 200, "contention-latency"),
    contentionN: Math.max(2, positive(values.contention, 200, "contention")),
    warmKeys: Math.max(1, positive(values["warm-keys"], 300, "warm-keys")),
    growth: numberList(values.growth ?? (quick ? "2000,5000" : "10000,50000"), "growth"),
    growthDurationS: positive(
      values["growth-duration"],
      Math.max(1, Math.round(durationS * 0.3)),
      "growth-duration",
    ),
    fillMaxS: positive(values["fill-max"], quick ? 60 : 240, "fill-max"),
    scenarios: scenarios as Scenario[],
    ref: values.ref ?? null,
    out: path.resolve(PROJECT_ROOT, values.out ?? (quick ? "bench/.tmp/results" : "bench/results")),
    readme: !values["no-readme"] && !quick && values.out === undefined,
    render: values.render ?? null,
    maxMinutes: positive(values["max-minutes"], 11, "max-minutes"),
    quietPct: positive(values["quiet-pct"], 10, "quiet-pct"),
    quietWaitS: positive(values["quiet-wait"], quick ? 10 : 60, "quiet-wait"),
    retries: Math.floor(positive(values.retries, quick ? 0 : 2, "retries")),
  };
}

// ---------------------------------------------------------------------------------------------
// The origin: bench/origin.ts in its own process.

interface Origin {
  url: string;
  pid: number;
  setLatency(ms: number): Promise<void>;
  count(key: string): Promise<number>;
  stats(): Promise<{ total: number; keys: number }>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function startOrigin(latencyMs: number): Promise<Origin> {
  const child = spawn(
    process.execPath,
    [path.join(PROJECT_ROOT, "bench", "origin.ts"), String(latencyMs)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the origin did not start in 10 s")), 10_000);
    let text = "";
    child.stdout.on("data", (data: Buffer) => {
      text += data.toString();
      const line = text.split("\n")[0];
      if (text.includes("\n") && line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once("exit", (code) => reject(new Error(`the origin exited (${code})`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const control = async (method: string, pathAndQuery: string) => {
    const response = await fetch(`${url}/__control/${pathAndQuery}`, {
      method,
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`origin control ${pathAndQuery}: ${response.status}`);
    return response.json() as Promise<Record<string, number>>;
  };
  return {
    url,
    pid: child.pid ?? -1,
    setLatency: async (ms) => void (await control("POST", `latency?ms=${ms}`)),
    count: async (key) => (await control("GET", `count?key=${encodeURIComponent(key)}`)).count ?? 0,
    stats: async () => {
      const stats = await control("GET", "stats");
      return { total: stats.total ?? 0, keys: stats.keys ?? 0 };
    },
    reset: async () => void (await control("POST", "reset")),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(force);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Targets: the bare proxy and the gateway, each a real `wrangler dev`.

interface Target {
  name: string;
  kind: "bare" | "gateway";
  shards: number | null;
  dev: WranglerDev;
  /** Requests it has answered so far (RSS grows with them, not only with stored keys). */
  served: number;
}

/** Every `wrangler dev` still running, so that any exit path stops it. */
const running = new Set<WranglerDev>();

async function startTarget(
  kind: Target["kind"],
  shards: number | null,
  originUrl: string,
  persistTo: string,
  gatewayConfig: string | undefined,
  gatewayVars: Record<string, string> = {},
): Promise<Target> {
  const vars: Record<string, string> = {
    ...(kind === "gateway" ? gatewayVars : {}),
    ORIGIN_URL: originUrl,
  };
  if (shards !== null) vars.IDEMPOTENCY_SHARDS = String(shards);
  const config = kind === "bare" ? "bench/bare-proxy/wrangler.toml" : gatewayConfig;
  const dev = await startWranglerDev({
    vars,
    persistTo,
    ...(config !== undefined ? { config } : {}),
    // The local trace collector records every request and storage call and costs about as much
    // CPU as the gateway itself: it is development tooling, not the product (issue 3).
    env: { X_LOCAL_OBSERVABILITY: "false" },
    readyTimeoutMs: 120_000,
  });
  running.add(dev);
  return {
    name: kind === "bare" ? "bare proxy" : `shards=${shards}`,
    kind,
    shards,
    dev,
    served: 0,
  };
}

async function stopTarget(target: Target): Promise<void> {
  await target.dev.stop();
  running.delete(target.dev);
}

function pgid(target: Target): number {
  return target.dev.process.pid ?? -1;
}

function rss(target: Target): WorkerdRss {
  return workerdRss(pgid(target), target.dev.port);
}

/** One autocannon run against a target, counted in `target.served`. */
async function load(
  target: Target,
  options: Omit<Parameters<typeof runLoad>[0], "url">,
): ReturnType<typeof runLoad> {
  const result = await runLoad({ url: target.dev.url, ...options });
  target.served += result.ok + result.non2xx;
  return result;
}

/** Exports `src/` and `wrangler.toml` as committed at `ref`, so the run measures a fixed tree. */
function exportRef(ref: string, dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const files = ["src", "wrangler.toml", "tsconfig.json", "package.json"];
  const tar = execFileSync("git", ["archive", "--format=tar", ref, ...files], {
    cwd: PROJECT_ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  return path.relative(PROJECT_ROOT, path.join(dir, "wrangler.toml"));
}

// ---------------------------------------------------------------------------------------------
// Requests outside autocannon.

async function post(target: Target, key: string, signal?: AbortSignal) {
  const response = await fetch(target.dev.url + REQUEST.path, {
    method: REQUEST.method,
    headers: { ...REQUEST.headers, "idempotency-key": key },
    body: REQUEST.body,
    signal: signal ?? AbortSignal.timeout(30_000),
  });
  return {
    status: response.status,
    replayed: response.headers.get("idempotent-replayed") === "true",
    body: await response.text(),
  };
}

/** The gateway must forward a new key once and replay it after: else the numbers mean nothing. */
async function sanityCheck(target: Target, origin: Origin): Promise<void> {
  const key = `sanity-${randomUUID()}`;
  const first = await post(target, key);
  const second = await post(target, key);
  const calls = await origin.count(key);
  const problems: string[] = [];
  if (first.status !== 201)
    problems.push(`first answer ${first.status}: ${first.body.slice(0, 200)}`);
  if (target.kind === "gateway") {
    if (second.status !== 201 || !second.replayed) {
      problems.push(`second answer ${second.status}, replayed=${second.replayed}`);
    }
    if (second.body !== first.body) problems.push("the replayed body differs");
    if (calls !== 1) problems.push(`origin calls ${calls}, expected 1`);
  } else if (calls !== 2) {
    problems.push(`origin calls ${calls}, expected 2`);
  }
  if (problems.length > 0) {
    const tail = target.dev.output().split("\n").slice(-20).join("\n");
    throw new Error(`${target.name} fails the sanity check: ${problems.join("; ")}\n${tail}`);
  }
}

/** Sends one first request for each key, 16 at a time; all must be stored (201). */
async function prime(target: Target, keys: string[]): Promise<void> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++] as string;
      const answer = await post(target, key);
      if (answer.status !== 201) failed++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  if (failed > 0) throw new Error(`${target.name}: ${failed} of ${keys.length} warm keys failed`);
}

// ---------------------------------------------------------------------------------------------
// The run.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const log = (line: string) => process.stdout.write(`${line}\n`);

function machine(): Machine {
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const cpuModel =
    /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? "?";
  const meminfo = fs.readFileSync("/proc/meminfo", "utf8");
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? "0");
  const nproc = Number(execFileSync("nproc").toString().trim());
  const version = (pkg: string) => {
    try {
      const file = path.join(PROJECT_ROOT, "node_modules", pkg, "package.json");
      return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
    } catch {
      return "?";
    }
  };
  const memGiB = Math.round(memKiB / 1024 / 1024);
  const cpuShort = cpuModel
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|processor|cpu|@.*$|\d+-core/g, "")
    .trim()
    .split(/\s+/)
    .slice(0, 3)
    .join("-")
    .replace(/[^a-z0-9-]/g, "");
  return {
    nproc,
    memoryGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10,
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    wrangler: version("wrangler"),
    workerd:
      version("wrangler/node_modules/workerd") === "?"
        ? version("workerd")
        : version("wrangler/node_modules/workerd"),
    autocannon: version("autocannon"),
    short: `${nproc}c${memGiB}g-${cpuShort || "cpu"}`,
  };
}

function gitDescription(ref: string | null): BenchResults["gateway"] {
  const git = (...args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim();
    } catch {
      return "";
    }
  };
  if (ref !== null) {
    return { source: `git ${ref}`, commit: git("rev-parse", "--short=12", ref), dirty: false };
  }
  const dirty = git("status", "--porcelain", "--", "src", "wrangler.toml") !== "";
  return { source: "working tree", commit: git("rev-parse", "--short=12", "HEAD"), dirty };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    log(HELP);
    return;
  }
  if (options.render !== null) {
    const inResults =
      path.dirname(path.resolve(options.render)) === path.join(PROJECT_ROOT, "bench", "results");
    await render(options.render, options.readme && inResults);
    return;
  }
  const runStarted = Date.now();
  const deadline = runStarted + options.maxMinutes * 60_000;
  const runDir = path.join(PROJECT_ROOT, "bench", ".tmp", `run-${process.pid}-${runStarted}`);
  fs.mkdirSync(runDir, { recursive: true });
  const cells: Cell[] = [];
  const contention: ContentionResult[] = [];
  const growth: GrowthStep[] = [];
  const notes: string[] = [];
  const rssBare: BenchResults["bareRss"] = [];
  let origin: Origin | null = null;
  const targets: Target[] = [];

  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping every process of the run…`);
    void Promise.allSettled([...running].map((dev) => dev.kill()))
      .then(() => origin?.stop())
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    const info = machine();
    log(
      `bench: ${info.nproc} cores, ${info.memoryGiB} GiB, ${info.cpuModel}, node ${info.node}, wrangler ${info.wrangler}`,
    );
    const gatewayConfig =
      options.ref === null ? undefined : exportRef(options.ref, path.join(runDir, "gateway"));
    const gateway = gitDescription(options.ref);
    log(
      `gateway: ${gateway.source} (${gateway.commit}${gateway.dirty ? ", with uncommitted changes" : ""})`,
    );

    origin = await startOrigin(options.latencyMs);
    const originUrl = origin.url;
    const bare = await startTarget("bare", null, originUrl, path.join(runDir, "bare"), undefined);
    targets.push(bare);
    for (const shards of options.shards) {
      targets.push(
        await startTarget(
          "gateway",
          shards,
          originUrl,
          path.join(runDir, `gw-${shards}`),
          gatewayConfig,
          options.gatewayVars,
        ),
      );
    }
    for (const target of targets) await sanityCheck(target, origin);
    log(
      `started: origin ${originUrl} (${options.latencyMs} ms), ${targets.map((t) => `${t.name} ${t.dev.url}`).join(", ")}`,
    );
    rssBare.push({ served: bare.served, ...rss(bare) });

    const o = origin;
    const meter = cpuMeter(() => {
      let ms = processCpuMs(o.pid);
      for (const dev of running) {
        const group = groupCpu(dev.process.pid ?? -1);
        ms += group.workerdMs + group.otherMs;
      }
      const self = process.cpuUsage();
      return ms + (self.user + self.system) / 1000;
    });
    /** Time left for waiting out other load: none in the last 3 minutes of the budget. */
    const mayWait = () => Date.now() < deadline - 180_000;
    /** Waits (bounded) until other processes leave the machine alone for a second. */
    const waitQuiet = async (): Promise<void> => {
      const started = Date.now();
      let reported = false;
      while (mayWait() && Date.now() - started < options.quietWaitS * 1000) {
        const mark = meter.mark();
        await sleep(1_000);
        const { foreignPct } = meter.since(mark);
        if (foreignPct <= options.quietPct) return;
        if (!reported) log(`  (waiting: ${foreignPct}% of the machine busy with other processes)`);
        reported = true;
      }
    };

    /** Warm-up, then one measured cell, with CPU and origin calls counted around it. */
    const measure = async (
      target: Target,
      scenario: Cell["scenario"],
      connections: number,
      nextKey: () => string,
      durationS: number,
      storedKeys?: number,
    ): Promise<Cell> => {
      let best: Cell | null = null;
      for (let attempt = 1; attempt <= 1 + options.retries; attempt++) {
        await waitQuiet();
        const cell = await measureOnce(
          target,
          scenario,
          connections,
          nextKey,
          durationS,
          storedKeys,
        );
        cell.attempts = attempt;
        if (best === null || cell.foreignCpuPct < best.foreignCpuPct) best = cell;
        if (cell.foreignCpuPct <= options.quietPct || !mayWait()) break;
        log(
          `  (${cell.foreignCpuPct}% of the machine was busy with other processes: measuring again)`,
        );
      }
      const cell = best as Cell;
      cells.push(cell);
      log(
        `  ${scenario.padEnd(13)} ${target.name.padEnd(10)} c=${String(connections).padEnd(3)} ` +
          `${cell.rps.toFixed(0).padStart(6)} rps  p50 ${cell.p50.toFixed(2)} ms  p99 ${cell.p99.toFixed(2)} ms  ` +
          `errors ${cell.errors}  origin calls ${cell.originCalls}  workerd ${cell.cpuUsPerRequest.workerd ?? "?"} µs/req` +
          `  busy ${cell.machineBusyPct}% (other ${cell.foreignCpuPct}%)` +
          (cell.rss !== undefined
            ? `  stored ${storedKeys}  rss ${cell.rss.workerMiB}+${cell.rss.proxyMiB} MiB`
            : ""),
      );
      return cell;
    };
    const measureOnce = async (
      target: Target,
      scenario: Cell["scenario"],
      connections: number,
      nextKey: () => string,
      durationS: number,
      storedKeys?: number,
    ): Promise<Cell> => {
      if (options.warmupS > 0) {
        await load(target, {
          connections,
          durationS: options.warmupS,
          maxS: options.warmupS + 40,
          nextKey,
        });
      }
      const before = {
        group: groupCpu(pgid(target)),
        origin: processCpuMs(o.pid),
        self: process.cpuUsage(),
        mark: meter.mark(),
        calls: (await o.stats()).total,
      };
      const result = await load(target, {
        connections,
        durationS,
        maxS: durationS + 40,
        nextKey,
      });
      const busy = meter.since(before.mark);
      const after = {
        group: groupCpu(pgid(target)),
        origin: processCpuMs(o.pid),
        self: process.cpuUsage(before.self),
        calls: (await o.stats()).total,
      };
      const perRequest = (ms: number) =>
        result.ok > 0 ? Math.round((ms * 1000) / result.ok) : null;
      return {
        scenario,
        target: target.name,
        shards: target.shards,
        connections,
        ...result,
        originCalls: after.calls - before.calls,
        cpuUsPerRequest: {
          workerd: perRequest(after.group.workerdMs - before.group.workerdMs),
          wrangler: perRequest(after.group.otherMs - before.group.otherMs),
          origin: perRequest(after.origin - before.origin),
          loadgen: perRequest((after.self.user + after.self.system) / 1000),
        },
        machineBusyPct: busy.busyPct,
        foreignCpuPct: busy.foreignPct,
        attempts: 1,
        ...(storedKeys !== undefined
          ? { storedKeys, served: target.served, rss: rss(target) }
          : {}),
      };
    };
    const uniqueKey = () => `bench-${randomUUID()}`;

    if (options.scenarios.includes("first")) {
      log("\nunique-key first requests");
      await origin.reset();
      for (const connections of options.connections) {
        for (const target of targets)
          await measure(target, "first", connections, uniqueKey, options.durationS);
      }
    }

    if (options.scenarios.includes("replay")) {
      log(`\nreplays of ${options.warmKeys} warm keys`);
      await origin.reset();
      const warm = Array.from({ length: options.warmKeys }, () => `warm-${randomUUID()}`);
      for (const target of targets) if (target.kind === "gateway") await prime(target, warm);
      for (const connections of options.connections) {
        for (const target of targets) {
          let i = 0;
          await measure(
            target,
            "replay",
            connections,
            () => warm[i++ % warm.length] as string,
            options.durationS,
          );
        }
      }
    }

    if (options.scenarios.includes("contention")) {
      log(
        `\ncontention: ${options.contentionN} concurrent duplicates of one key, origin at ${options.contentionLatencyMs} ms`,
      );
      await origin.setLatency(options.contentionLatencyMs);
      try {
        for (const target of targets) {
          const key = `contention-${randomUUID()}`;
          const started = performance.now();
          const signal = AbortSignal.timeout(60_000);
          const answers = await Promise.all(
            Array.from({ length: options.contentionN }, () =>
              post(target, key, signal).catch((error: unknown) => ({
                status: 0,
                replayed: false,
                body: String(error),
              })),
            ),
          );
          const wallMs = performance.now() - started;
          const reference = answers.find((a) => !a.replayed) ?? answers[0];
          const identical = answers.filter(
            (a) => a.status === reference?.status && a.body === reference?.body,
          ).length;
          const result: ContentionResult = {
            target: target.name,
            shards: target.shards,
            requests: answers.length,
            originCalls: await origin.count(key),
            identical,
            replayed: answers.filter((a) => a.replayed).length,
            statuses: answers.reduce<Record<string, number>>((acc, a) => {
              acc[a.status] = (acc[a.status] ?? 0) + 1;
              return acc;
            }, {}),
            wallMs: Math.round(wallMs),
          };
          contention.push(result);
          log(
            `  ${target.name.padEnd(10)} origin calls ${result.originCalls}, identical answers ${identical}/${answers.length}, replayed ${result.replayed}, ${result.wallMs} ms`,
          );
        }
      } finally {
        await origin.setLatency(options.latencyMs);
      }
    }
    rssBare.push({ served: bare.served, ...rss(bare) });
    // The growth scenario starts every gateway afresh, with nothing stored: stop these first.
    for (const target of targets) await stopTarget(target);

    if (options.scenarios.includes("growth")) {
      log(`\ngrowth: ${options.growth.join(", ")} stored keys`);
      for (const [index, shards] of options.shards.entries()) {
        // Each mapping gets a fair share of the time left, so a slow one cannot starve the next.
        const shareEnd = Date.now() + (deadline - Date.now()) / (options.shards.length - index);
        await origin.reset();
        const persistTo = path.join(runDir, `growth-${shards}`);
        let target = await startTarget("gateway", shards, originUrl, persistTo, gatewayConfig);
        try {
          const warm = Array.from({ length: options.warmKeys }, () => `warm-${randomUUID()}`);
          await prime(target, warm);
          const steps = [0, ...options.growth];
          /** Seconds the measured cells of the steps from `index` on will take. */
          const cellsS = (from: number) =>
            (steps.length - from) *
              options.connections.length *
              2 *
              (options.growthDurationS + options.warmupS + 1.5) +
            (steps.length - from) * 8;
          for (const [stepIndex, step] of steps.entries()) {
            let stored = (await origin.stats()).keys;
            let fill: GrowthStep["fill"] = null;
            if (stored < step) {
              const remainingS = (shareEnd - Date.now()) / 1000 - cellsS(stepIndex);
              if (remainingS < 10) {
                notes.push(
                  `growth ${target.name}: step ${step} skipped, its share of --max-minutes was used up`,
                );
                log(
                  `  ${target.name}: skipping step ${step}, its share of --max-minutes is used up`,
                );
                break;
              }
              const maxS = Math.min(options.fillMaxS, remainingS);
              const result = await load(target, {
                connections: 32,
                amount: step - stored,
                maxS,
                nextKey: uniqueKey,
              });
              stored = (await origin.stats()).keys;
              fill = {
                seconds: Math.round(result.seconds * 10) / 10,
                rps: Math.round(result.rps),
                errors: result.errors,
              };
              log(
                `  ${target.name}: stored ${stored} keys in ${fill.seconds} s (${fill.rps} rps, ${fill.errors} errors)`,
              );
              if (stored < step)
                notes.push(
                  `growth ${target.name}: reached ${stored} of ${step} keys within ${Math.round(maxS)} s (its share of --max-minutes)`,
                );
            }
            // The stored keys stay on disk; the process starts anew. What the cells below measure
            // then depends on the keys stored, not on what a long-running wrangler dev has
            // accumulated in memory (its RSS grows with every request served, bare proxy too).
            let beforeRestart: GrowthStep["beforeRestart"] = null;
            if (step > 0) {
              beforeRestart = { served: target.served, rss: rss(target) };
              await stopTarget(target);
              target = await startTarget("gateway", shards, originUrl, persistTo, gatewayConfig);
            }
            const rssAtStep = rss(target);
            const servedAtStep = target.served;
            const growthCells: Cell[] = [];
            for (const connections of options.connections) {
              growthCells.push(
                await measure(
                  target,
                  "growth-first",
                  connections,
                  uniqueKey,
                  options.growthDurationS,
                  stored,
                ),
              );
            }
            for (const connections of options.connections) {
              let i = 0;
              growthCells.push(
                await measure(
                  target,
                  "growth-replay",
                  connections,
                  () => warm[i++ % warm.length] as string,
                  options.growthDurationS,
                  stored,
                ),
              );
            }
            growth.push({
              target: target.name,
              shards,
              step,
              storedKeys: stored,
              served: servedAtStep,
              rss: rssAtStep,
              fill,
              rssAfter: rss(target),
              beforeRestart,
            });
          }
        } finally {
          await stopTarget(target);
        }
      }
    }

    const results: BenchResults = {
      version: 1,
      date: new Date(runStarted).toISOString(),
      runSeconds: Math.round((Date.now() - runStarted) / 1000),
      machine: info,
      gateway,
      options: {
        durationS: options.durationS,
        warmupS: options.warmupS,
        shards: options.shards,
        connections: options.connections,
        latencyMs: options.latencyMs,
        contentionLatencyMs: options.contentionLatencyMs,
        contentionN: options.contentionN,
        warmKeys: options.warmKeys,
        growth: options.growth,
        growthDurationS: options.growthDurationS,
        quick: options.quick,
        quietPct: options.quietPct,
        retries: options.retries,
        observability: [
          "X_LOCAL_OBSERVABILITY=false",
          ...Object.entries(options.gatewayVars).map(([k, v]) => `gateway ${k}=${v}`),
        ].join(", "),
      },
      bareRss: rssBare,
      cells,
      contention,
      growth,
      targets: [],
      notes,
    };
    results.targets = evaluateTargets(results);
    await writeResults(results, options);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await Promise.allSettled([...running].map((dev) => dev.stop()));
    running.clear();
    await origin?.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/** Markdown as the project's Prettier would write it (the README is format-checked). */
async function formatMarkdown(text: string, file: string): Promise<string> {
  const config = (await resolveConfig(file)) ?? {};
  return format(text, { ...config, parser: "markdown" });
}

async function writeResults(
  results: BenchResults,
  options: Pick<Options, "out" | "quick" | "readme">,
  name?: string,
): Promise<void> {
  fs.mkdirSync(options.out, { recursive: true });
  const day = results.date.slice(0, 10);
  let base = name ?? `${day}-${results.machine.short}${options.quick ? "-quick" : ""}`;
  for (
    let n = 2;
    name === undefined && fs.existsSync(path.join(options.out, `${base}.json`));
    n++
  ) {
    base = `${day}-${results.machine.short}${options.quick ? "-quick" : ""}-${n}`;
  }
  const svgName = `${base}.svg`;
  const mdFile = path.join(options.out, `${base}.md`);
  fs.writeFileSync(path.join(options.out, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(options.out, svgName), renderChart(results));
  fs.writeFileSync(mdFile, await formatMarkdown(renderMarkdown(results, svgName), mdFile));
  log(`\n${renderConsoleTable(results)}`);
  log(
    `\nwrote ${path.relative(PROJECT_ROOT, path.join(options.out, base))}.{md,json,svg} (${results.runSeconds} s)`,
  );
  if (options.readme) {
    await updateReadme(
      results,
      path.relative(path.join(PROJECT_ROOT, "bench"), path.join(options.out, svgName)),
      path.relative(path.join(PROJECT_ROOT, "bench"), mdFile),
    );
  }
}

/** Replaces the results section of bench/README.md with this run's tables. */
async function updateReadme(results: BenchResults, svgPath: string, mdPath: string) {
  const file = path.join(PROJECT_ROOT, "bench", "README.md");
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, "utf8");
  const start = "<!-- results:start -->";
  const end = "<!-- results:end -->";
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return;
  const section = renderMarkdown(results, svgPath, { headingLevel: 3, source: mdPath });
  const updated = `${text.slice(0, from + start.length)}\n\n${section}\n${text.slice(to)}`;
  fs.writeFileSync(file, await formatMarkdown(updated, file));
  log("updated the results section of bench/README.md");
}

/** `--render FILE.json`: writes the Markdown and SVG of a stored run again (after a change here). */
async function render(file: string, readme: boolean): Promise<void> {
  const results = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
  results.targets = evaluateTargets(results);
  const out = path.dirname(path.resolve(file));
  await writeResults(
    results,
    { out, quick: results.options.quick, readme },
    path.basename(file, ".json"),
  );
}

await main();
