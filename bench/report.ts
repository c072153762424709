import type { LoadResult } from "./load.ts";
import type { WorkerdRss } from "./procs.ts";

/**
 * The results of one run (the JSON written to bench/results/), the targets of issue 3 checked
 * against them, and their Markdown and console tables.
 */

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

export interface Cell extends LoadResult {
  scenario: "first" | "replay" | "growth-first" | "growth-replay";
  target: string;
  /** `IDEMPOTENCY_SHARDS` of a gateway; `null` for the bare proxy. */
  shards: number | null;
  connections: number;
  /** Requests the origin received during the measured cell. */
  originCalls: number;
  /** CPU time per 2xx response, in microseconds, by process. */
  cpuUsPerRequest: {
    workerd: number | null;
    wrangler: number | null;
    origin: number | null;
    loadgen: number | null;
  };
  /** Share of the whole machine's CPU busy during the cell, in percent. */
  machineBusyPct: number;
  /** The part of it used by processes outside the run (a test run, a build…). */
  foreignCpuPct: number;
  /** Measurements taken (a disturbed cell is measured again; the least disturbed is kept). */
  attempts: number;
  /** Growth cells: keys stored, requests answered so far, and workerd RSS after the cell. */
  storedKeys?: number;
  served?: number;
  rss?: WorkerdRss;
}

export interface ContentionResult {
  target: string;
  shards: number | null;
  requests: number;
  originCalls: number;
  /** Answers with the same status and body as the first request's own answer. */
  identical: number;
  replayed: number;
  statuses: Record<string, number>;
  wallMs: number;
}

export interface GrowthStep {
  target: string;
  shards: number;
  /** The step asked for (0: only the warm keys). */
  step: number;
  storedKeys: number;
  /** Requests the gateway process had answered before the step's measurements. */
  served: number;
  /** workerd RSS before the step's measurements (after the restart)… */
  rss: WorkerdRss;
  /** … and after them. */
  rssAfter: WorkerdRss;
  /**
   * The long-running process that stored the keys, just before it was restarted on the same
   * `--persist-to` directory (steps after the first).
   */
  beforeRestart: { served: number; rss: WorkerdRss } | null;
  fill: { seconds: number; rps: number; errors: number } | null;
}

export interface TargetCheck {
  mapping: string;
  goal: string;
  measured: string;
  /** `null`: reported, no threshold. */
  pass: boolean | null;
}

export interface BenchResults {
  version: 1;
  date: string;
  runSeconds: number;
  machine: Machine;
  gateway: { source: string; commit: string; dirty: boolean };
  options: {
    durationS: number;
    warmupS: number;
    shards: number[];
    connections: number[];
    latencyMs: number;
    contentionLatencyMs: number;
    contentionN: number;
    warmKeys: number;
    growth: number[];
    growthDurationS: number;
    quick: boolean;
    quietPct: number;
    retries: number;
    observability: string;
  };
  /** workerd RSS of the bare proxy after start and after the main scenarios. */
  bareRss: (WorkerdRss & { served: number })[];
  cells: Cell[];
  contention: ContentionResult[];
  growth: GrowthStep[];
  targets: TargetCheck[];
  notes: string[];
}

/** The bare proxy's cell that a gateway cell is compared with (same scenario and connections). */
export function bareFor(results: BenchResults, cell: Cell): Cell | undefined {
  const scenario = cell.scenario.replace("growth-", "");
  return results.cells.find(
    (c) => c.shards === null && c.scenario === scenario && c.connections === cell.connections,
  );
}

function find(
  results: BenchResults,
  scenario: Cell["scenario"],
  shards: number,
  connections: number,
): Cell | undefined {
  return results.cells.find(
    (c) => c.scenario === scenario && c.shards === shards && c.connections === connections,
  );
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "–");
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "–");

/** MiB of worker-process RSS the bare proxy gained per 10k requests during the main scenarios. */
export function bareRssGrowth(results: BenchResults): number | null {
  const first = results.bareRss[0];
  const last = results.bareRss[results.bareRss.length - 1];
  if (!first || !last || last.served <= first.served) return null;
  return ((last.workerMiB - first.workerMiB) * 10_000) / (last.served - first.served);
}

/** Checks the targets of issue 3 for each gateway mapping. */
export function evaluateTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const { connections, latencyMs } = results.options;
  const low = Math.min(...connections);
  const high = Math.max(...connections);
  for (const shards of results.options.shards) {
    const mapping = `shards=${shards}`;
    const ratio = (scenario: Cell["scenario"], conns: number) => {
      const cell = find(results, scenario, shards, conns);
      const bare = cell && bareFor(results, cell);
      return cell && bare ? { cell, bare, value: cell.rps / bare.rps } : undefined;
    };
    const firstHigh = ratio("first", high);
    if (firstHigh) {
      checks.push({
        mapping,
        goal: `first requests ≥ 0.7× bare rps at ${high} connections`,
        measured: `${f2(firstHigh.value)}×`,
        pass: firstHigh.value >= 0.7,
      });
    }
    const firstLow = ratio("first", low);
    if (firstLow) {
      const added = firstLow.cell.p50 - firstLow.bare.p50;
      checks.push({
        mapping,
        goal: `first requests: added p50 ≤ 2 ms at ${low} connection${low === 1 ? "" : "s"}`,
        measured: `${f2(added)} ms`,
        pass: added <= 2,
      });
    }
    const replayHigh = ratio("replay", high);
    if (replayHigh) {
      checks.push({
        mapping,
        goal: `replays ≥ 1.3× bare rps at ${high} connections`,
        measured: `${f2(replayHigh.value)}×`,
        pass: replayHigh.value >= 1.3,
      });
    }
    const replayLow = find(results, "replay", shards, low);
    if (replayLow) {
      const replayHighCell = find(results, "replay", shards, high);
      const bareHigh = replayHighCell && bareFor(results, replayHighCell);
      checks.push({
        mapping,
        goal: `replays: p50 below the origin's ${latencyMs} ms (${low} connection${low === 1 ? "" : "s"}: no queueing for CPU)`,
        measured:
          `${f2(replayLow.p50)} ms` +
          (replayHighCell && bareHigh && high !== low
            ? ` (${f2(replayHighCell.p50)} ms at ${high} connections, where the bare proxy's is ${f2(bareHigh.p50)} ms)`
            : ""),
        pass: replayLow.p50 < latencyMs,
      });
    }
    const contention = results.contention.find((c) => c.shards === shards);
    if (contention) {
      checks.push({
        mapping,
        goal: `contention: exactly 1 origin call, ${contention.requests} identical answers`,
        measured: `${contention.originCalls} call${contention.originCalls === 1 ? "" : "s"}, ${contention.identical} identical`,
        pass: contention.originCalls === 1 && contention.identical === contention.requests,
      });
    }
    const steps = results.growth.filter((g) => g.shards === shards);
    const growthCells = (scenario: Cell["scenario"], conns: number) =>
      results.cells.filter(
        (c) => c.scenario === scenario && c.shards === shards && c.connections === conns,
      );
    const rpsSeries = growthCells("growth-first", high);
    const p50Series = growthCells("growth-first", low);
    const firstRps = rpsSeries[0];
    const lastRps = rpsSeries[rpsSeries.length - 1];
    const firstP50 = p50Series[0];
    const lastP50 = p50Series[p50Series.length - 1];
    if (rpsSeries.length > 1 && firstRps && lastRps && firstP50 && lastP50) {
      const rpsRatio = lastRps.rps / firstRps.rps;
      const p50Delta = lastP50.p50 - firstP50.p50;
      checks.push({
        mapping,
        goal: `growth: first-request cost flat from ${firstRps.storedKeys} to ${lastRps.storedKeys} keys (rps ≥ 0.9×, p50 +≤ 1 ms)`,
        measured: `rps ${f2(rpsRatio)}×, p50 ${p50Delta >= 0 ? "+" : ""}${f2(p50Delta)} ms`,
        pass: rpsRatio >= 0.9 && p50Delta <= 1,
      });
    }
    const firstStep = steps[0];
    const lastStep = steps[steps.length - 1];
    if (steps.length > 1 && firstStep && lastStep) {
      const per10k = (mib: number, count: number) => (mib * 10_000) / Math.max(1, count);
      const fresh = per10k(
        lastStep.rssAfter.workerMiB - firstStep.rssAfter.workerMiB,
        lastStep.storedKeys - firstStep.storedKeys,
      );
      checks.push({
        mapping,
        goal: "growth: RSS of the gateway's workerd, fresh process, after the step's cells",
        measured: `${f1(firstStep.rssAfter.workerMiB)} MiB at ${firstStep.storedKeys} keys → ${f1(lastStep.rssAfter.workerMiB)} MiB at ${lastStep.storedKeys} keys (${f1(fresh)} MiB per 10k keys)`,
        pass: null,
      });
      const longRunning = lastStep.beforeRestart;
      if (longRunning !== null) {
        const bare = bareRssGrowth(results);
        checks.push({
          mapping,
          goal: "growth: RSS of the long-running gateway workerd that stored the keys",
          measured:
            `${f1(longRunning.rss.workerMiB)} MiB after ${longRunning.served} requests (${f1(per10k(longRunning.rss.workerMiB - firstStep.rss.workerMiB, longRunning.served - firstStep.served))} MiB per 10k requests` +
            (bare !== null ? `; bare proxy: ${f1(bare)} MiB per 10k requests)` : ")"),
          pass: null,
        });
      }
    }
  }
  return checks;
}

interface Row {
  scenario: string;
  target: string;
  connections: number;
  rps: string;
  p50: string;
  p99: string;
  errors: string;
  ratio: string;
  addedP50: string;
  cpu: string;
  wranglerCpu: string;
  foreign: string;
}

function keysLabel(n: number): string {
  return n >= 1000 ? `${Math.round(n / 100) / 10}k` : String(n);
}

function rows(results: BenchResults): Row[] {
  return results.cells.map((cell) => {
    const bare = cell.shards === null ? undefined : bareFor(results, cell);
    const scenario =
      cell.scenario === "growth-first" || cell.scenario === "growth-replay"
        ? `${cell.scenario.replace("growth-", "")} @ ${keysLabel(cell.storedKeys ?? 0)} keys`
        : cell.scenario;
    return {
      scenario,
      target: cell.target,
      connections: cell.connections,
      rps: cell.rps.toFixed(0),
      p50: f2(cell.p50),
      p99: f2(cell.p99),
      errors: String(cell.errors),
      ratio: bare ? `${f2(cell.rps / bare.rps)}×` : "",
      addedP50: bare ? `${cell.p50 >= bare.p50 ? "+" : ""}${f2(cell.p50 - bare.p50)}` : "",
      cpu: cell.cpuUsPerRequest.workerd === null ? "–" : String(cell.cpuUsPerRequest.workerd),
      wranglerCpu:
        cell.cpuUsPerRequest.wrangler === null ? "–" : String(cell.cpuUsPerRequest.wrangler),
      foreign: `${cell.foreignCpuPct}%${cell.foreignCpuPct > results.options.quietPct ? " ⚠" : ""}`,
    };
  });
}

const HEADER = [
  "scenario",
  "target",
  "conns",
  "rps",
  "p50 ms",
  "p99 ms",
  "errors",
  "rps / bare",
  "p50 − bare ms",
  "workerd CPU µs/req",
  "wrangler CPU µs/req",
  "other load",
];

function rowCells(row: Row): string[] {
  return [
    row.scenario,
    row.target,
    String(row.connections),
    row.rps,
    row.p50,
    row.p99,
    row.errors,
    row.ratio,
    row.addedP50,
    row.cpu,
    row.wranglerCpu,
    row.foreign,
  ];
}

/** The main table, aligned for a terminal. */
export function renderConsoleTable(results: BenchResults): string {
  const table = [HEADER, ...rows(results).map(rowCells)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  const out = [line(table[0] ?? []), widths.map((w) => "-".repeat(w)).join("  ")];
  for (const r of table.slice(1)) out.push(line(r));
  if (results.contention.length > 0) {
    out.push("");
    for (const c of results.contention) {
      out.push(
        `contention ${c.target}: ${c.originCalls} origin call(s), ${c.identical}/${c.requests} identical, ${c.replayed} replayed, ${c.wallMs} ms`,
      );
    }
  }
  if (results.targets.length > 0) {
    out.push("");
    for (const t of results.targets) {
      const mark = t.pass === null ? "  info" : t.pass ? "  PASS" : "  MISS";
      out.push(`${mark}  ${t.mapping.padEnd(10)} ${t.goal}: ${t.measured}`);
    }
  }
  return out.join("\n");
}

function mdTable(header: string[], body: string[][], right: number[] = []): string {
  const align = header.map((_, i) => (right.includes(i) ? "---:" : "---"));
  return [header, align, ...body].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** The run as Markdown: setup, chart, tables, targets. */
export function renderMarkdown(
  results: BenchResults,
  svgPath: string,
  { headingLevel = 1, source }: { headingLevel?: number; source?: string } = {},
): string {
  const h = (level: number) => "#".repeat(headingLevel + level);
  const { machine: m, options: o, gateway: g } = results;
  const out: string[] = [];
  out.push(`${h(0)} Benchmark ${results.date.slice(0, 16).replace("T", " ")} UTC — ${m.short}`);
  out.push("");
  out.push(
    [
      `- **Machine:** ${m.nproc} cores (\`nproc\`), ${m.memoryGiB} GiB, ${m.cpuModel}; ${m.kernel}`,
      `- **Software:** Node ${m.node}, wrangler ${m.wrangler}, workerd ${m.workerd}, autocannon ${m.autocannon}`,
      `- **Gateway:** ${g.source} at \`${g.commit}\`${g.dirty ? " **with uncommitted changes in src/**" : ""}`,
      `- **Setup:** loopback only; origin latency ${o.latencyMs} ms; ${o.durationS} s per cell after ${o.warmupS} s warm-up; growth cells ${o.growthDurationS} s; ${o.observability} for every \`wrangler dev\`${o.quick ? "; **quick smoke run**" : ""}; the run took ${results.runSeconds} s`,
      ...(source !== undefined ? [`- **Full report:** [${source}](${source})`] : []),
    ].join("\n"),
  );
  out.push("");
  out.push(`![p50/p99 latency and throughput, gateway vs bare proxy](${svgPath})`);
  out.push("");
  out.push(`${h(1)} Throughput and latency`);
  out.push("");
  out.push(
    `rps counts 2xx answers per second; latencies are over 2xx answers; errors are non-2xx answers, socket errors and timeouts. “rps / bare” and “p50 − bare” compare with the bare proxy in the same scenario and connection count, measured in the same run. “workerd CPU” is the CPU time of the target's workerd processes per answer, “wrangler CPU” that of wrangler's own Node process (it relays the Workers' console output). “other load” is the share of the machine's CPU used during the cell by processes outside the run; a cell above ${results.options.quietPct}% (⚠) was measured again up to ${results.options.retries} times and the least disturbed measurement kept.`,
  );
  out.push("");
  out.push(mdTable(HEADER, rows(results).map(rowCells), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  if (results.contention.length > 0) {
    out.push("");
    out.push(`${h(1)} Contention`);
    out.push("");
    out.push(
      `${o.contentionN} concurrent duplicates of one key (plain \`fetch\` in \`Promise.all\`), origin latency ${o.contentionLatencyMs} ms. The bare proxy is shown for contrast: it forwards every duplicate.`,
    );
    out.push("");
    out.push(
      mdTable(
        [
          "target",
          "requests",
          "origin calls",
          "identical answers",
          "marked replayed",
          "statuses",
          "wall ms",
        ],
        results.contention.map((c) => [
          c.target,
          String(c.requests),
          String(c.originCalls),
          String(c.identical),
          String(c.replayed),
          Object.entries(c.statuses)
            .map(([status, n]) => `${status}×${n}`)
            .join(" "),
          String(c.wallMs),
        ]),
        [1, 2, 3, 4, 6],
      ),
    );
  }
  if (results.growth.length > 0) {
    out.push("");
    out.push(`${h(1)} Growth`);
    out.push("");
    out.push(
      "Each mapping is started afresh with nothing stored and primed with the warm keys; then, for each step, filled with distinct keys (32 connections, bounded in time) and **restarted on the same `--persist-to` directory**, so that the step's first-request and replay cells (the “@ N keys” rows above) measure a process with N keys stored rather than one that has served N requests. RSS is VmRSS (/proc/<pid>/status) of wrangler's two workerd processes: *worker* runs the gateway and its Durable Objects, *proxy* is wrangler's own entry Worker in front of it (the same for any Worker). “before restart” is the long-running process that stored the keys.",
    );
    out.push("");
    const low = Math.min(...o.connections);
    const high = Math.max(...o.connections);
    out.push(
      mdTable(
        [
          "target",
          "stored keys",
          "fill",
          "before restart: worker + proxy RSS MiB",
          "worker RSS MiB (cells: before → after)",
          "proxy RSS MiB",
          `first p50 c=${low}`,
          `first rps c=${high}`,
          `replay p50 c=${low}`,
          `replay rps c=${high}`,
          `first workerd µs/req c=${high}`,
        ],
        results.growth.map((step) => {
          const at = (scenario: Cell["scenario"], conns: number) =>
            results.cells.find(
              (c) =>
                c.scenario === scenario &&
                c.shards === step.shards &&
                c.connections === conns &&
                c.storedKeys === step.storedKeys,
            );
          const fl = at("growth-first", low);
          const fh = at("growth-first", high);
          const rl = at("growth-replay", low);
          const rh = at("growth-replay", high);
          return [
            step.target,
            String(step.storedKeys),
            step.fill
              ? `${step.fill.seconds} s at ${step.fill.rps} rps, ${step.fill.errors} errors`
              : "–",
            step.beforeRestart
              ? `${f1(step.beforeRestart.rss.workerMiB)} + ${f1(step.beforeRestart.rss.proxyMiB)} (${step.beforeRestart.served} requests)`
              : "–",
            `${f1(step.rss.workerMiB)} → ${f1(step.rssAfter.workerMiB)}`,
            `${f1(step.rss.proxyMiB)} → ${f1(step.rssAfter.proxyMiB)}`,
            fl ? f2(fl.p50) : "–",
            fh ? fh.rps.toFixed(0) : "–",
            rl ? f2(rl.p50) : "–",
            rh ? rh.rps.toFixed(0) : "–",
            fh?.cpuUsPerRequest.workerd != null ? String(fh.cpuUsPerRequest.workerd) : "–",
          ];
        }),
        [1, 3, 4, 5, 6, 7, 8, 9, 10],
      ),
    );
    out.push("");
    out.push(
      `Bare proxy for comparison (worker + proxy RSS): ${results.bareRss
        .map((r) => `${f1(r.workerMiB)} + ${f1(r.proxyMiB)} MiB after ${r.served} requests`)
        .join(" → ")}.`,
    );
  }
  if (results.targets.length > 0) {
    out.push("");
    out.push(`${h(1)} Targets (issue 3)`);
    out.push("");
    out.push(
      mdTable(
        ["mapping", "target", "measured", ""],
        results.targets.map((t) => [
          t.mapping,
          t.goal,
          t.measured,
          t.pass === null ? "info" : t.pass ? "✅ met" : "❌ missed",
        ]),
      ),
    );
  }
  if (results.notes.length > 0) {
    out.push("");
    out.push(`${h(1)} Notes`);
    out.push("");
    for (const note of results.notes) out.push(`- ${note}`);
  }
  out.push("");
  return out.join("\n");
}
