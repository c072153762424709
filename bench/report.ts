import type { WorkerdRss } from "../harness/proc.ts";
import type { LoadResult } from "./measure.ts";
import type { ConfigName, Mode, Options } from "./options.ts";

/**
 * The results of one run (the JSON written to bench/results/), the targets of bench/README.md
 * checked against them, and the Markdown report.
 */

/** The machine and the software a run was taken on. */
export interface Machine {
  nproc: number;
  memoryGiB: number;
  cpuModel: string;
  kernel: string;
  node: string;
  wrangler: string;
  workerd: string;
  autocannon: string;
  /** For file names: "2c24g-amd-epyc". */
  short: string;
}

/** One measured cell: one target, one scenario, one connection count. */
export interface Cell extends LoadResult {
  scenario: "first" | "replay" | "retry" | "growth-first" | "growth-replay";
  target: string;
  /** How the target ran (runs before the proxy-free harness: all under `wrangler dev`). */
  mode?: Mode;
  /** The gateway's configuration, `bare` for the bare proxy (older runs: absent). */
  config?: ConfigName | "bare";
  /** `IDEMPOTENCY_SHARDS` of a gateway; null for the bare proxy. */
  shards: number | null;
  connections: number;
  /** Requests the origin received during the measured cell. */
  originCalls: number;
  /** CPU time per 2xx answer, in microseconds, by process. */
  cpuUsPerRequest: {
    workerd: number | null;
    /** Of `workerd`: wrangler's proxy Worker (absent in runs before the split was recorded). */
    proxy?: number | null;
    /** Of `workerd`: the process running the Worker and its Durable Objects. */
    worker?: number | null;
    wrangler: number | null;
    origin: number | null;
    loadgen: number | null;
  };
  /** Share of the whole machine's CPU busy during the cell, in percent… */
  machineBusyPct: number;
  /** … and the part of it used by processes outside the run (a test run, a build…). */
  foreignCpuPct: number;
  /** Measurements taken (a disturbed cell is measured again; the least disturbed is kept). */
  attempts: number;
  /** Growth cells: keys stored, requests answered so far, and workerd RSS after the cell. */
  storedKeys?: number;
  served?: number;
  rss?: WorkerdRss;
}

/** What the contention scenario found for one target. */
export interface ContentionResult {
  target: string;
  mode?: Mode;
  config?: ConfigName | "bare";
  shards: number | null;
  requests: number;
  originCalls: number;
  /** Answers with the same status and body as the first request's own answer. */
  identical: number;
  replayed: number;
  statuses: Record<string, number>;
  wallMs: number;
}

/** One step of the growth scenario for one mapping. */
export interface GrowthStep {
  target: string;
  shards: number;
  /** The step asked for (0: only the warm keys). */
  step: number;
  storedKeys: number;
  /** Requests the gateway process had answered before the step's cells. */
  served: number;
  /** workerd RSS before the step's cells (after the restart), and after them. */
  rss: WorkerdRss;
  rssAfter: WorkerdRss;
  /** The long-running process that stored the keys, just before its restart (steps after 0). */
  beforeRestart: { served: number; rss: WorkerdRss } | null;
  fill: { seconds: number; rps: number; errors: number } | null;
}

/** One target of bench/README.md, checked. */
export interface TargetCheck {
  mapping: string;
  goal: string;
  measured: string;
  /** null: reported, no threshold. */
  pass: boolean | null;
}

/** Everything one run measured: the JSON file. */
export interface BenchResults {
  version: 1;
  date: string;
  runSeconds: number;
  machine: Machine;
  gateway: { source: string; commit: string; dirty: boolean };
  /** The run's options (runs before December 2026 recorded fewer), and what was turned off. */
  options: Omit<Options, "out" | "render" | "modes" | "configs" | "pinned"> &
    Partial<Pick<Options, "modes" | "configs" | "pinned">> & {
      observability: string;
      /** `taskset -c` lists of the targets by mode and of the load generator (none: anywhere). */
      cpus?: { workerd?: string; wrangler?: string; loadgen?: string };
    };
  /** workerd RSS of the bare proxy after start and after the main scenarios. */
  bareRss: (WorkerdRss & { served: number })[];
  cells: Cell[];
  contention: ContentionResult[];
  growth: GrowthStep[];
  targets: TargetCheck[];
  notes: string[];
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");
const signed = (n: number) => `${n >= 0 ? "+" : ""}${f2(n)}`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

const modeOf = (cell: Cell): Mode => cell.mode ?? "wrangler";

/** The bare proxy's cell a gateway cell is compared with (same mode, scenario, connections). */
function bareFor(results: BenchResults, cell: Cell): Cell | undefined {
  const scenario = cell.scenario.replace("growth-", "");
  return results.cells.find(
    (c) =>
      c.shards === null &&
      modeOf(c) === modeOf(cell) &&
      c.scenario === scenario &&
      c.connections === cell.connections,
  );
}

/** One gateway as a run measured it: a mode, a configuration and a mapping. */
interface Series {
  mode: Mode;
  config: string | undefined;
  shards: number;
  /** Its name in the targets table. */
  label: string;
}

/** The gateways of a run, in the order first measured. */
function seriesOf(results: BenchResults): Series[] {
  const seen = new Map<string, Series>();
  for (const cell of results.cells) {
    if (cell.shards === null) continue;
    const series = { mode: modeOf(cell), config: cell.config, shards: cell.shards };
    const key = JSON.stringify(series);
    if (seen.has(key)) continue;
    const many = results.options.shards.length > 1;
    const label =
      cell.mode === undefined
        ? `shards=${cell.shards}`
        : `${cell.mode === "workerd" ? "workerd" : "wrangler dev"}: ${cell.config ?? "?"}${many ? `, shards=${cell.shards}` : ""}`;
    seen.set(key, { ...series, label });
  }
  return [...seen.values()];
}

/** The cells of one scenario, gateway and connection count, in the order measured. */
function cellsOf(results: BenchResults, scenario: Cell["scenario"], series: Series, conns: number) {
  return results.cells.filter(
    (c) =>
      c.scenario === scenario &&
      c.shards === series.shards &&
      modeOf(c) === series.mode &&
      c.config === series.config &&
      c.connections === conns,
  );
}

/** The thresholds of bench/README.md, per mode; runs before the proxy-free harness had one set. */
interface Goals {
  first: number;
  addedP50Ms: number;
  replay: number;
  /** Retry-shaped traffic (null: reported only). */
  retry: number | null;
  /** Worker CPU added per first request at the highest connection count (null: reported only). */
  addedCpuUs: number | null;
}

const GOALS: Record<Mode | "legacy", Goals> = {
  workerd: { first: 0.85, addedP50Ms: 1, replay: 2, retry: null, addedCpuUs: 500 },
  wrangler: { first: 0.6, addedP50Ms: 3, replay: 1.3, retry: null, addedCpuUs: null },
  legacy: { first: 0.75, addedP50Ms: 1.5, replay: 1.5, retry: 1.5, addedCpuUs: null },
};

/** Checks the targets of bench/README.md for each gateway of the run. */
export function evaluateTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const { connections, latencyMs } = results.options;
  const low = Math.min(...connections);
  const high = Math.max(...connections);
  for (const series of seriesOf(results)) {
    const { shards } = series;
    const goals = GOALS[series.config === undefined ? "legacy" : series.mode];
    const check = (goal: string, measured: string, pass: boolean | null) =>
      checks.push({ mapping: series.label, goal, measured, pass });
    const withBare = (scenario: Cell["scenario"], conns: number) => {
      const cell = cellsOf(results, scenario, series, conns)[0];
      const bare = cell && bareFor(results, cell);
      return cell && bare ? { cell, bare } : undefined;
    };

    const firstHigh = withBare("first", high);
    if (firstHigh) {
      const ratio = firstHigh.cell.rps / firstHigh.bare.rps;
      check(
        `first requests ≥ ${goals.first}× bare rps at ${high} connections`,
        `${f2(ratio)}×`,
        ratio >= goals.first,
      );
      const [gw, bare] = [firstHigh.cell.cpuUsPerRequest, firstHigh.bare.cpuUsPerRequest];
      const [gwUs, bareUs] = [gw.worker ?? gw.workerd, bare.worker ?? bare.workerd];
      if (gwUs !== null && bareUs !== null && series.config !== undefined) {
        const added = gwUs - bareUs;
        const limit = goals.addedCpuUs;
        check(
          `first requests: Worker CPU added${limit === null ? "" : ` ≤ ${limit} µs`} at ${high} connections`,
          `${added} µs (${gwUs} against ${bareUs})`,
          limit === null ? null : added <= limit,
        );
      }
    }
    const firstLow = withBare("first", low);
    if (firstLow) {
      const added = firstLow.cell.p50 - firstLow.bare.p50;
      const goal = `first requests: added p50 ≤ ${goals.addedP50Ms} ms at ${plural(low, "connection")}`;
      check(goal, `${f2(added)} ms`, added <= goals.addedP50Ms);
    }
    const replayHigh = withBare("replay", high);
    if (replayHigh) {
      const ratio = replayHigh.cell.rps / replayHigh.bare.rps;
      check(
        `replays ≥ ${goals.replay}× bare rps at ${high} connections`,
        `${f2(ratio)}×`,
        ratio >= goals.replay,
      );
    }
    const retryHigh = withBare("retry", high);
    if (retryHigh) {
      const ratio = retryHigh.cell.rps / retryHigh.bare.rps;
      const goal = goals.retry === null ? ": rps / bare" : ` ≥ ${goals.retry}× bare rps`;
      check(
        `retry-shaped traffic${goal} at ${high} connections`,
        `${f2(ratio)}×`,
        goals.retry === null ? null : ratio >= goals.retry,
      );
    }
    const replayLow = cellsOf(results, "replay", series, low)[0];
    if (replayLow) {
      const atHigh =
        replayHigh && high !== low
          ? ` (${f2(replayHigh.cell.p50)} ms at ${high} connections, where the bare proxy's is ${f2(replayHigh.bare.p50)} ms)`
          : "";
      check(
        `replays: p50 below the origin's ${latencyMs} ms (${plural(low, "connection")}: no queueing for CPU)`,
        `${f2(replayLow.p50)} ms${atHigh}`,
        replayLow.p50 < latencyMs,
      );
    }
    const contention = results.contention.find(
      (c) =>
        c.shards === shards && (c.mode ?? "wrangler") === series.mode && c.config === series.config,
    );
    if (contention) {
      check(
        `contention: exactly 1 origin call, ${contention.requests} identical answers`,
        `${plural(contention.originCalls, "call")}, ${contention.identical} identical`,
        contention.originCalls === 1 && contention.identical === contention.requests,
      );
    }

    const rpsSeries = cellsOf(results, "growth-first", series, high);
    const p50Series = cellsOf(results, "growth-first", series, low);
    const [firstRps, lastRps] = [rpsSeries[0], rpsSeries.at(-1)];
    const [firstP50, lastP50] = [p50Series[0], p50Series.at(-1)];
    if (rpsSeries.length > 1 && firstRps && lastRps && firstP50 && lastP50) {
      const rpsRatio = lastRps.rps / firstRps.rps;
      const p50Delta = lastP50.p50 - firstP50.p50;
      check(
        `growth: first-request cost flat from ${firstRps.storedKeys} to ${lastRps.storedKeys} keys (rps ≥ 0.9×, p50 +≤ 1 ms)`,
        `rps ${f2(rpsRatio)}×, p50 ${signed(p50Delta)} ms`,
        rpsRatio >= 0.9 && p50Delta <= 1,
      );
    }
    const steps = results.growth.filter(
      (g) => g.shards === shards && g.target === firstRps?.target,
    );
    const [firstStep, lastStep] = [steps[0], steps.at(-1)];
    if (steps.length < 2 || !firstStep || !lastStep) continue;
    const per10k = (mib: number, count: number) => (mib * 10_000) / Math.max(1, count);
    const [before, after] = [firstStep.rssAfter.workerMiB, lastStep.rssAfter.workerMiB];
    const fresh = per10k(after - before, lastStep.storedKeys - firstStep.storedKeys);
    check(
      "growth: RSS of the gateway's workerd, fresh process, after the step's cells",
      `${f1(before)} MiB at ${firstStep.storedKeys} keys → ${f1(after)} MiB at ${lastStep.storedKeys} keys (${f1(fresh)} MiB per 10k keys)`,
      null,
    );
    const longRunning = lastStep.beforeRestart;
    if (longRunning === null) continue;
    const grown = longRunning.rss.workerMiB - firstStep.rss.workerMiB;
    const perRequests = per10k(grown, longRunning.served - firstStep.served);
    const bare = bareRssGrowth(results);
    check(
      "growth: RSS of the long-running gateway workerd that stored the keys",
      `${f1(longRunning.rss.workerMiB)} MiB after ${longRunning.served} requests (${f1(perRequests)} MiB per 10k requests` +
        (bare !== null ? `; bare proxy: ${f1(bare)} MiB per 10k requests)` : ")"),
      null,
    );
  }
  return checks;
}

/** The workerd CPU split between wrangler's proxy and the Worker's process ("–" in older runs). */
function cpuSplit(cell: Cell): string {
  const { proxy, worker } = cell.cpuUsPerRequest;
  if (proxy === undefined || worker === undefined) return "–";
  return `${orDash(proxy)} / ${orDash(worker)}`;
}

/** MiB of worker-process RSS the bare proxy gained per 10k requests during the main scenarios. */
function bareRssGrowth(results: BenchResults): number | null {
  const [first, last] = [results.bareRss[0], results.bareRss.at(-1)];
  if (!first || !last || last.served <= first.served) return null;
  return ((last.workerMiB - first.workerMiB) * 10_000) / (last.served - first.served);
}

/** A table column: its header, whether it is right-aligned (numbers), and a row's text. */
type Column<T> = readonly [header: string, right: boolean, text: (row: T) => string];

/** A Markdown table of `rows`, one column per entry of `columns`. */
function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const header = columns.map(([name]) => name);
  const align = columns.map(([, right]) => (right ? "---:" : "---"));
  const body = rows.map((row) => columns.map(([, , text]) => text(row)));
  return [header, align, ...body].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

const [L, R] = [false, true];
const keysLabel = (n: number) => (n >= 1000 ? `${Math.round(n / 100) / 10}k` : String(n));
const orDash = (n: number | null | undefined) => (n === null || n === undefined ? "–" : String(n));

/** The main table: every cell, and how it compares with the bare proxy's. */
function cellsTable(results: BenchResults): string {
  const bare = (cell: Cell) => (cell.shards === null ? undefined : bareFor(results, cell));
  const label = (cell: Cell) =>
    cell.storedKeys === undefined
      ? cell.scenario
      : `${cell.scenario.replace("growth-", "")} @ ${keysLabel(cell.storedKeys)} keys`;
  const ratio = (c: Cell, b = bare(c)) => (b ? `${f2(c.rps / b.rps)}×` : "");
  const addedP50 = (c: Cell, b = bare(c)) => (b ? signed(c.p50 - b.p50) : "");
  const disturbed = (c: Cell) => (c.foreignCpuPct > results.options.quietPct ? " ⚠" : "");
  return table(results.cells, [
    ["scenario", L, label],
    ["target", L, (c) => c.target],
    ["conns", R, (c) => String(c.connections)],
    ["rps", R, (c) => c.rps.toFixed(0)],
    ["p50 ms", R, (c) => f2(c.p50)],
    ["p99 ms", R, (c) => f2(c.p99)],
    ["errors", R, (c) => String(c.errors)],
    ["rps / bare", R, (c) => ratio(c)],
    ["p50 − bare ms", R, (c) => addedP50(c)],
    ["workerd CPU µs/req", R, (c) => orDash(c.cpuUsPerRequest.workerd)],
    ["of which proxy / worker", R, (c) => cpuSplit(c)],
    ["wrangler CPU µs/req", R, (c) => orDash(c.cpuUsPerRequest.wrangler)],
    ["other load", R, (c) => `${c.foreignCpuPct}%${disturbed(c)}`],
  ]);
}

function contentionTable(results: BenchResults): string {
  const statuses = (c: ContentionResult) =>
    Object.entries(c.statuses)
      .map(([status, n]) => `${status}×${n}`)
      .join(" ");
  return table(results.contention, [
    ["target", L, (c) => c.target],
    ["requests", R, (c) => String(c.requests)],
    ["origin calls", R, (c) => String(c.originCalls)],
    ["identical answers", R, (c) => String(c.identical)],
    ["marked replayed", R, (c) => String(c.replayed)],
    ["statuses", L, statuses],
    ["wall ms", R, (c) => String(c.wallMs)],
  ]);
}

function growthTable(results: BenchResults): string {
  const low = Math.min(...results.options.connections);
  const high = Math.max(...results.options.connections);
  /** The step's cell of a scenario at a connection count (also a row of the main table). */
  const at = (step: GrowthStep, scenario: Cell["scenario"], conns: number) =>
    results.cells.find(
      (c) =>
        c.scenario === scenario &&
        c.target === step.target &&
        c.connections === conns &&
        c.storedKeys === step.storedKeys,
    );
  const p50 = (cell: Cell | undefined) => (cell ? f2(cell.p50) : "–");
  const rps = (cell: Cell | undefined) => (cell ? cell.rps.toFixed(0) : "–");
  const fill = ({ fill: f }: GrowthStep) =>
    f ? `${f.seconds} s at ${f.rps} rps, ${f.errors} errors` : "–";
  const beforeRestart = ({ beforeRestart: b }: GrowthStep) =>
    b ? `${f1(b.rss.workerMiB)} + ${f1(b.rss.proxyMiB)} (${b.served} requests)` : "–";
  return table(results.growth, [
    ["target", L, (s) => s.target],
    ["stored keys", R, (s) => String(s.storedKeys)],
    ["fill", L, fill],
    ["before restart: worker + proxy RSS MiB", R, beforeRestart],
    [
      "worker RSS MiB (cells: before → after)",
      R,
      (s) => `${f1(s.rss.workerMiB)} → ${f1(s.rssAfter.workerMiB)}`,
    ],
    ["proxy RSS MiB", R, (s) => `${f1(s.rss.proxyMiB)} → ${f1(s.rssAfter.proxyMiB)}`],
    [`first p50 c=${low}`, R, (s) => p50(at(s, "growth-first", low))],
    [`first rps c=${high}`, R, (s) => rps(at(s, "growth-first", high))],
    [`replay p50 c=${low}`, R, (s) => p50(at(s, "growth-replay", low))],
    [`replay rps c=${high}`, R, (s) => rps(at(s, "growth-replay", high))],
    [
      `first workerd µs/req c=${high}`,
      R,
      (s) => orDash(at(s, "growth-first", high)?.cpuUsPerRequest.workerd),
    ],
  ]);
}

/** Where a run's processes ran (`taskset -c` lists), in words. */
function cores(cpus: BenchResults["options"]["cpus"]): string {
  if (cpus?.loadgen === undefined)
    return "not pinned: the load generator shared every core with the targets";
  const where = (list: string | undefined) => (list === undefined ? "any core" : `core(s) ${list}`);
  return `load generator and origin on core ${cpus.loadgen}; workerd alone on ${where(cpus.workerd)}; \`wrangler dev\` on ${where(cpus.wrangler)}`;
}

/** The run as Markdown: setup, cells, contention, growth, targets, notes. */
export function renderMarkdown(results: BenchResults): string {
  const { machine: m, options: o, gateway: g } = results;
  const sections = [
    `# Benchmark ${results.date.slice(0, 16).replace("T", " ")} UTC — ${m.short}`,
    [
      `- **Machine:** ${m.nproc} cores (\`nproc\`), ${m.memoryGiB} GiB, ${m.cpuModel}; ${m.kernel}`,
      `- **Software:** Node ${m.node}, wrangler ${m.wrangler}, workerd ${m.workerd}, autocannon ${m.autocannon}`,
      `- **Gateway:** ${g.source} at \`${g.commit}\`${g.dirty ? " **with uncommitted changes in src/**" : ""}`,
      ...(results.options.baseline === undefined || results.options.baseline === null
        ? []
        : [`- **Baseline** (configuration \`baseline\`): git \`${results.options.baseline}\``]),
      `- **Cores:** ${cores(o.cpus)}`,
      `- **Setup:** loopback only; origin latency ${o.latencyMs} ms; ${o.durationS} s per cell after ${o.warmupS} s warm-up; growth cells ${o.growthDurationS} s; ${o.observability} for every \`wrangler dev\`${o.modes?.includes("workerd") ? "; workerd alone with its objects' SQLite files on tmpfs (`defaults-on-disk`: on disk, as under `wrangler dev`)" : ""}${o.quick ? "; **quick smoke run**" : ""}; the run took ${results.runSeconds} s`,
    ].join("\n"),
    `## Throughput and latency`,
    `rps counts 2xx answers per second; latencies are over 2xx answers; errors are non-2xx answers, socket errors and timeouts. “rps / bare” and “p50 − bare” compare with the bare proxy in the same scenario and connection count, measured in the same run. “workerd CPU” is the CPU time of the target's workerd processes per answer, “wrangler CPU” that of wrangler's own Node process (it relays the Workers' console output). “other load” is the share of the machine's CPU used during the cell by processes outside the run; a cell above ${o.quietPct}% (⚠) was measured again up to ${o.retries} times and the least disturbed measurement kept.`,
    cellsTable(results),
  ];
  if (results.contention.length > 0) {
    sections.push(
      `## Contention`,
      `${o.contentionN} concurrent duplicates of one key (plain \`fetch\` in \`Promise.all\`), origin latency ${o.contentionLatencyMs} ms. The bare proxy is shown for contrast: it forwards every duplicate.`,
      contentionTable(results),
    );
  }
  if (results.growth.length > 0) {
    const bare = results.bareRss
      .map((r) => `${f1(r.workerMiB)} + ${f1(r.proxyMiB)} MiB after ${r.served} requests`)
      .join(" → ");
    sections.push(
      `## Growth`,
      "Each mapping is started afresh with nothing stored and primed with the warm keys; then, for each step, filled with distinct keys (32 connections, bounded in time) and **restarted on the same `--persist-to` directory**, so that the step's first-request and replay cells (the “@ N keys” rows above) measure a process with N keys stored rather than one that has served N requests. RSS is VmRSS (/proc/<pid>/status) of the target's workerd processes: *worker* runs the gateway and its Durable Objects, *proxy* is wrangler's own entry Worker in front of it under `wrangler dev` (the same for any Worker; none in workerd alone). State kept on tmpfs is not in any process's RSS. “before restart” is the long-running process that stored the keys.",
      growthTable(results),
      `Bare proxy for comparison (worker + proxy RSS): ${bare}.`,
    );
  }
  if (results.targets.length > 0) {
    const mark = (pass: boolean | null) => (pass === null ? "info" : pass ? "✅ met" : "❌ missed");
    sections.push(
      `## Targets`,
      table(results.targets, [
        ["mapping", L, (t) => t.mapping],
        ["target", L, (t) => t.goal],
        ["measured", L, (t) => t.measured],
        ["", L, (t) => mark(t.pass)],
      ]),
    );
  }
  if (results.notes.length > 0) {
    sections.push(`## Notes`, results.notes.map((note) => `- ${note}`).join("\n"));
  }
  return `${sections.join("\n\n")}\n`;
}
