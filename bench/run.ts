import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { format, resolveConfig } from "prettier";
import { BOTH_WORKERS, PROJECT_ROOT } from "../harness/wrangler-dev.ts";
import { createMeasure } from "./measure.ts";
import { buildWorkers } from "../harness/workerd-serve.ts";
import {
  CONFIGS,
  HELP,
  parseOptions,
  type ConfigName,
  type Mode,
  type Options,
  type Scenario,
} from "./options.ts";
import { evaluateTargets, renderMarkdown, type BenchResults, type Machine } from "./report.ts";
import {
  contention,
  firstRequests,
  growth,
  replays,
  retryShaped,
  type Bench,
} from "./scenarios.ts";
import {
  BARE_CONFIG,
  FLOOR_CONFIGS,
  exportRef,
  prime,
  rss,
  sanityCheck,
  startOrigin,
  startTarget,
  stopAll,
  stopTarget,
  type Target,
} from "./targets.ts";

/**
 * `npm run bench`: the gateway against a bare pass-through Worker, side by side, on loopback
 * (bench/README.md). Every loop is bounded in count and time, and every process started is
 * stopped at the end, on error and on Ctrl-C too.
 */

const log = (line: string) => process.stdout.write(`${line}\n`);

/** The machine and the versions of the software measured. */
function machine(): Machine {
  const cpuModel = os.cpus()[0]?.model.trim() ?? "?";
  const memoryGiB = os.totalmem() / 2 ** 30;
  const nproc = os.availableParallelism();
  const version = (pkg: string) => {
    try {
      const file = path.join(PROJECT_ROOT, "node_modules", pkg, "package.json");
      return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
    } catch {
      return "?";
    }
  };
  const workerd = version("wrangler/node_modules/workerd");
  // "AMD EPYC 7B13 64-Core Processor" → "amd-epyc-7b13", for file names.
  const cpu = cpuModel.toLowerCase().replace(/\(r\)|\(tm\)|processor|cpu|@.*$|\d+-core/g, " ");
  const cpuShort = cpu
    .trim()
    .split(/\s+/)
    .slice(0, 3)
    .join("-")
    .replace(/[^a-z0-9-]/g, "");
  return {
    nproc,
    memoryGiB: Math.round(memoryGiB * 10) / 10,
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    wrangler: version("wrangler"),
    workerd: workerd === "?" ? version("workerd") : workerd,
    autocannon: version("autocannon"),
    short: `${nproc}c${Math.round(memoryGiB)}g-${cpuShort || "cpu"}`,
  };
}

/** Which gateway is measured: the working tree (and whether src/ has changes), or a git ref. */
function gitDescription(ref: string | null): BenchResults["gateway"] {
  const git = (...args: string[]) => {
    try {
      const stdio: ("ignore" | "pipe")[] = ["ignore", "pipe", "ignore"];
      return execFileSync("git", args, { cwd: PROJECT_ROOT, stdio }).toString().trim();
    } catch {
      return "";
    }
  };
  if (ref !== null) {
    return { source: `git ${ref}`, commit: git("rev-parse", "--short=12", ref), dirty: false };
  }
  const dirty =
    git("status", "--porcelain", "--", "src", "wrangler.toml", "wrangler.coordinator.toml") !== "";
  return { source: "working tree", commit: git("rev-parse", "--short=12", "HEAD"), dirty };
}

/** The results of a run about to start: its setup, and nothing measured yet. */
function emptyResults(options: Options): BenchResults {
  // Where the results go is not part of them.
  const { out, render, ...recorded } = options;
  const vars = Object.entries(options.gatewayVars).map(([k, v]) => `gateway ${k}=${v}`);
  return {
    version: 1,
    date: new Date().toISOString(),
    runSeconds: 0,
    machine: machine(),
    gateway: gitDescription(options.ref),
    options: {
      ...recorded,
      observability: ["X_LOCAL_OBSERVABILITY=false", ...vars].join(", "),
    },
    bareRss: [],
    cells: [],
    contention: [],
    growth: [],
    targets: [],
    notes: [],
  };
}

/** Starts every process, runs the chosen scenarios, writes the results; always cleans up. */
async function runBench(options: Options): Promise<void> {
  const results = emptyResults(options);
  const started = Date.now();
  const runDir = path.join(PROJECT_ROOT, "bench", ".tmp", `run-${process.pid}-${started}`);
  const onSignal = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping every process of the run…`);
    void stopAll(true).finally(() => {
      fs.rmSync(runDir, { recursive: true, force: true });
      // State on tmpfs holds memory until removed.
      const shmDir = tmpfsDir(runDir);
      if (shmDir !== null) fs.rmSync(shmDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const { machine: m, gateway: g } = results;
    log(
      `bench: ${m.nproc} cores, ${m.memoryGiB} GiB, ${m.cpuModel}, node ${m.node}, wrangler ${m.wrangler}`,
    );
    log(`gateway: ${g.source} (${g.commit}${g.dirty ? ", with uncommitted changes" : ""})`);
    const bench = await setUp(options, results, runDir, started + options.maxMinutes * 60_000);
    await runScenarios(bench);
    results.runSeconds = Math.round((Date.now() - started) / 1000);
    results.targets = evaluateTargets(results);
    await writeResults(results, options.out, freshName(results, options.out));
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await stopAll();
    fs.rmSync(runDir, { recursive: true, force: true });
    const shmDir = tmpfsDir(runDir);
    if (shmDir !== null) fs.rmSync(shmDir, { recursive: true, force: true });
  }
}

/**
 * Where the run's processes go, as `taskset -c` lists. With `--unpinned` or on one core:
 * anywhere. Else this process (the load generator) and the origin, forked later, on core 0, and
 * workerd alone on cores 1…n−1. `wrangler dev` runs three busy processes (its proxy, the Workers,
 * its Node process): on cores 1…n−1 only when they are at least 3, since squeezing them onto one
 * core measures the squeeze (bench/README.md, "Cores"); on fewer, anywhere.
 */
function pinning(options: Options): { workerd?: string; wrangler?: string; loadgen?: string } {
  const cores = os.availableParallelism();
  if (!options.pinned || cores < 2) return {};
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" });
  const rest = cores === 2 ? "1" : `1-${cores - 1}`;
  return { workerd: rest, ...(cores >= 4 ? { wrangler: rest } : {}), loadgen: "0" };
}

/** First requests sent to each gateway before the run: 512 random keys reach all of 64 shards. */
const WARM_UP_KEYS = 512;

const warmUpKeys = (count: number) =>
  Array.from({ length: count }, () => `warm-up-${randomUUID()}`);

/** A tmpfs twin of `runDir` (under /dev/shm), or null where there is none. */
function tmpfsDir(runDir: string): string | null {
  return fs.existsSync("/dev/shm") ? path.join("/dev/shm", path.basename(runDir)) : null;
}

const MODE_LABEL: Record<Mode, string> = { workerd: "workerd", wrangler: "wrangler dev" };

/**
 * Starts the origin, then per `--modes` value the bare proxy and one gateway per `--shards` and
 * `--configs` value; checks each.
 */
async function setUp(
  options: Options,
  results: BenchResults,
  runDir: string,
  deadline: number,
): Promise<Bench> {
  fs.mkdirSync(runDir, { recursive: true });
  const shmDir = tmpfsDir(runDir);
  const cpus = pinning(options);
  results.options.cpus = cpus;
  const configs =
    options.ref === null ? undefined : exportRef(options.ref, path.join(runDir, "gw"));
  // workerd alone runs the bundles a deploy uploads: built once, from the same configs.
  const [built, bareBuilt, floorBuilt] = options.modes.includes("workerd")
    ? await Promise.all([
        buildWorkers(configs ?? BOTH_WORKERS, path.join(runDir, "build")),
        buildWorkers([BARE_CONFIG], path.join(runDir, "build")),
        options.configs.includes("floor")
          ? buildWorkers(FLOOR_CONFIGS, path.join(runDir, "build"))
          : null,
      ])
    : [null, null, null];
  const baselineConfigs =
    options.baseline === null
      ? undefined
      : exportRef(options.baseline, path.join(runDir, "baseline"));
  const baselineBuilt =
    baselineConfigs !== undefined && options.modes.includes("workerd")
      ? await buildWorkers(baselineConfigs, path.join(runDir, "build-baseline"))
      : null;
  const origin = await startOrigin(options.latencyMs);
  const originUrl = origin.url;
  const many = options.shards.length > 1;
  // workerd alone keeps the objects' SQLite files on tmpfs unless the configuration says disk
  // (bench/README.md, "Storage"); `wrangler dev` keeps them on disk.
  const stateDir = (mode: Mode, config: ConfigName | "bare", name: string) =>
    mode === "workerd" && shmDir !== null && (config === "bare" || !CONFIGS[config].disk)
      ? path.join(shmDir, name)
      : path.join(runDir, name);
  const gateway = (mode: Mode, config: ConfigName, shards: number, persistTo: string) =>
    startTarget({
      name: `${MODE_LABEL[mode]}: ${config}${many ? `, shards=${shards}` : ""}`,
      mode,
      config,
      shards,
      originUrl,
      persistTo,
      ...(config === "floor"
        ? { configs: FLOOR_CONFIGS, built: floorBuilt }
        : config === "baseline"
          ? { configs: baselineConfigs, built: baselineBuilt, vars: options.gatewayVars }
          : { configs, built, vars: { ...CONFIGS[config].vars, ...options.gatewayVars } }),
      cpus: cpus[mode],
    });
  const [firstMode = "workerd", firstConfig = "defaults"] = [options.modes[0], options.configs[0]];
  const startGateway = (shards: number, persistTo: string) =>
    gateway(
      firstMode,
      firstConfig,
      shards,
      stateDir(firstMode, firstConfig, path.basename(persistTo)),
    );
  const targets: Target[] = [];
  for (const mode of options.modes) {
    targets.push(
      await startTarget({
        name: `${MODE_LABEL[mode]}: bare proxy`,
        mode,
        config: "bare",
        shards: null,
        originUrl,
        persistTo: stateDir(mode, "bare", `${mode}-bare`),
        built: bareBuilt,
        cpus: cpus[mode],
      }),
    );
    for (const shards of options.shards) {
      for (const config of options.configs) {
        // Under wrangler dev every configuration is on disk already.
        if (mode === "wrangler" && CONFIGS[config].disk) continue;
        const persistTo = stateDir(mode, config, `${mode}-${config}-${shards}`);
        targets.push(await gateway(mode, config, shards, persistTo));
      }
    }
  }
  for (const target of targets) await sanityCheck(target, origin);
  // A server in steady state has its objects running: every shard's object is created (and the
  // code on every path compiled) before the first cell, not during the 1-connection cells.
  for (const target of targets) {
    if (target.shards !== null) await prime(target, warmUpKeys(WARM_UP_KEYS));
  }
  const listening = targets.map((t) => `${t.name} ${t.dev.url}`).join(", ");
  log(`started: origin ${originUrl} (${options.latencyMs} ms), ${listening}`);
  const measure = createMeasure(options, origin, deadline, results.cells, log);
  return { options, origin, targets, measure, results, deadline, startGateway, runDir, log };
}

/**
 * Runs the chosen scenarios in order, and reads the bare proxy's RSS before and after them. The
 * growth scenario comes last: it starts every gateway afresh, so the others are stopped first.
 */
async function runScenarios(bench: Bench): Promise<void> {
  const has = (scenario: Scenario) => bench.options.scenarios.includes(scenario);
  const bare = bench.targets[0] as Target;
  bench.results.bareRss.push({ served: bare.served, ...rss(bare) });
  if (has("first")) await firstRequests(bench);
  if (has("replay")) await replays(bench);
  if (has("retry")) await retryShaped(bench);
  if (has("contention")) await contention(bench);
  bench.results.bareRss.push({ served: bare.served, ...rss(bare) });
  for (const target of bench.targets) await stopTarget(target);
  if (has("growth")) await growth(bench);
}

/**
 * Writes the run as `<name>.json` and `<name>.md` in `dir` and prints the report. The Markdown is
 * formatted as the project's Prettier would (bench/results is not format-checked, but diffs of a
 * re-rendered report then show only what changed).
 */
async function writeResults(results: BenchResults, dir: string, name: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const mdFile = path.join(dir, `${name}.md`);
  const config = (await resolveConfig(mdFile)) ?? {};
  const report = await format(renderMarkdown(results), { ...config, parser: "markdown" });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(mdFile, report);
  log(`\n${report}\nwrote ${path.relative(PROJECT_ROOT, path.join(dir, name))}.{md,json}`);
}

/** `<date>-<machine>[-quick]`, then `-2`, `-3`… when a run of the same day is already there. */
function freshName(results: BenchResults, dir: string): string {
  const stem = `${results.date.slice(0, 10)}-${results.machine.short}`;
  const quick = results.options.quick ? "-quick" : "";
  let name = `${stem}${quick}`;
  for (let n = 2; fs.existsSync(path.join(dir, `${name}.json`)); n++) name = `${stem}${quick}-${n}`;
  return name;
}

/** `--render FILE.json`: writes the Markdown of a stored run again, after a change to the report. */
async function render(file: string): Promise<void> {
  const results = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
  results.targets = evaluateTargets(results);
  await writeResults(results, path.dirname(file), path.basename(file, ".json"));
}

const options = parseOptions(process.argv.slice(2));
if (options === null) log(HELP);
else if (options.render !== null) await render(options.render);
else await runBench(options);
