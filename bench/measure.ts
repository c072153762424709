import autocannon from "autocannon";
import { groupCpu, machineCpu, readStat } from "../harness/proc.ts";
import { summarize, type LatencySummary } from "../harness/stats.ts";
import type { Options } from "./options.ts";
import type { Cell } from "./report.ts";
import { REQUEST, rss, running, type Origin, type Target } from "./targets.ts";

/** Measured cells: autocannon load, with the CPU of every process counted around it. */

/** What one autocannon run measured. Latencies are over 2xx answers, in milliseconds. */
export interface LoadResult extends LatencySummary {
  /** Seconds the load actually ran. */
  seconds: number;
  /** Answers with a 2xx status, and their number per second. */
  ok: number;
  rps: number;
  /** Non-2xx answers + socket errors + timeouts. */
  errors: number;
  non2xx: number;
  statusCounts: Record<string, number>;
}

/**
 * Runs autocannon against a target for `durationS` seconds or `amount` requests, never past
 * `maxS`, each request with the key `nextKey()` returns, and counts the answers in
 * `target.served`. Latencies are kept in full: autocannon's own histogram rounds to whole
 * milliseconds, too coarse for targets of 1–2 ms.
 */
export async function runLoad(
  target: Target,
  load: { connections: number; durationS?: number; amount?: number; maxS: number },
  nextKey: () => string,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const started = performance.now();
  let hardStop: NodeJS.Timeout | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const options: autocannon.Options = {
      url: target.dev.url + REQUEST.path,
      method: REQUEST.method,
      headers: REQUEST.headers,
      body: REQUEST.body,
      connections: load.connections,
      ...(load.amount !== undefined ? { amount: load.amount } : { duration: load.durationS ?? 1 }),
      timeout: 30,
      requests: [
        {
          setupRequest: (request) => {
            request.headers = { ...request.headers, "idempotency-key": nextKey() };
            return request;
          },
        },
      ],
    };
    const instance = autocannon(options, (error, result) =>
      error ? reject(error) : resolve(result),
    );
    instance.on("response", (_client, status, _bytes, responseTime) => {
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      if (status >= 200 && status <= 299) latencies.push(responseTime);
    });
    hardStop = setTimeout(() => instance.stop(), load.maxS * 1000);
  }).finally(() => clearTimeout(hardStop));
  const seconds = (performance.now() - started) / 1000;
  const non2xx = Object.values(statusCounts).reduce((a, b) => a + b, 0) - latencies.length;
  target.served += latencies.length + non2xx;
  return {
    seconds,
    ok: latencies.length,
    rps: latencies.length / seconds,
    ...summarize(latencies),
    errors: non2xx + result.errors + result.timeouts,
    non2xx,
    statusCounts,
  };
}

/** CPU milliseconds used so far by the run's own processes: the origin, every target, us. */
function ourCpuMs(origin: Origin): number {
  let ms = readStat(origin.pid)?.cpuMs ?? 0;
  for (const dev of running) {
    const group = groupCpu(dev.process.pid ?? -1);
    ms += group.workerdMs + group.otherMs;
  }
  const self = process.cpuUsage();
  return ms + (self.user + self.system) / 1000;
}

interface CpuMark {
  machine: { busyMs: number; totalMs: number };
  oursMs: number;
}

const cpuMark = (origin: Origin): CpuMark => ({ machine: machineCpu(), oursMs: ourCpuMs(origin) });

/** Busy share of the whole machine since `mark`, in %: all of it, and the part that was not ours. */
function busySince(origin: Origin, mark: CpuMark): { busyPct: number; foreignPct: number } {
  const now = machineCpu();
  const totalMs = Math.max(1, now.totalMs - mark.machine.totalMs);
  const busyMs = now.busyMs - mark.machine.busyMs;
  const foreignMs = Math.max(0, busyMs - (ourCpuMs(origin) - mark.oursMs));
  return {
    busyPct: Math.round((100 * busyMs) / totalMs),
    foreignPct: Math.round((100 * foreignMs) / totalMs),
  };
}

/** What to measure in one cell. */
export interface CellSpec {
  scenario: Cell["scenario"];
  connections: number;
  durationS: number;
  nextKey: () => string;
  /** Growth cells: the keys stored; the cell then also records `served` and RSS. */
  storedKeys?: number;
}

/** Measures one cell against a target, records it and returns it. */
export type Measure = (target: Target, spec: CellSpec) => Promise<Cell>;

/**
 * The measuring of a run. Before each cell it waits (bounded) until processes outside the run
 * leave the machine alone; a cell they disturbed anyway is measured again and the least disturbed
 * measurement kept. On 2 cores a test run or a build beside the bench would skew every number.
 * No waiting or retries in the last 3 minutes before `deadline`.
 */
export function createMeasure(
  options: Options,
  origin: Origin,
  deadline: number,
  cells: Cell[],
  log: (line: string) => void,
): Measure {
  const mayWait = () => Date.now() < deadline - 180_000;

  const waitQuiet = async () => {
    const until = Date.now() + options.quietWaitS * 1000;
    let reported = false;
    while (mayWait() && Date.now() < until) {
      const mark = cpuMark(origin);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const { foreignPct } = busySince(origin, mark);
      if (foreignPct <= options.quietPct) return;
      if (!reported) log(`  (waiting: ${foreignPct}% of the machine busy with other processes)`);
      reported = true;
    }
  };

  /** Warm-up, then the measured load, with CPU time and origin calls read before and after. */
  const measureOnce = async (target: Target, spec: CellSpec): Promise<Cell> => {
    const { connections, durationS, nextKey } = spec;
    if (options.warmupS > 0) {
      const warmupS = options.warmupS;
      await runLoad(target, { connections, durationS: warmupS, maxS: warmupS + 40 }, nextKey);
    }
    const pgid = target.dev.process.pid ?? -1;
    const before = {
      group: groupCpu(pgid),
      origin: readStat(origin.pid)?.cpuMs ?? 0,
      self: process.cpuUsage(),
      mark: cpuMark(origin),
      calls: (await origin.ask({})).total,
    };
    const result = await runLoad(target, { connections, durationS, maxS: durationS + 40 }, nextKey);
    const busy = busySince(origin, before.mark);
    const self = process.cpuUsage(before.self);
    const group = groupCpu(pgid);
    const originMs = (readStat(origin.pid)?.cpuMs ?? 0) - before.origin;
    const perRequest = (ms: number) => (result.ok > 0 ? Math.round((ms * 1000) / result.ok) : null);
    return {
      scenario: spec.scenario,
      target: target.name,
      mode: target.mode,
      config: target.config,
      shards: target.shards,
      connections,
      ...result,
      originCalls: (await origin.ask({})).total - before.calls,
      cpuUsPerRequest: {
        workerd: perRequest(group.workerdMs - before.group.workerdMs),
        proxy: perRequest(group.proxyMs - before.group.proxyMs),
        worker: perRequest(group.workerMs - before.group.workerMs),
        wrangler: perRequest(group.otherMs - before.group.otherMs),
        origin: perRequest(originMs),
        loadgen: perRequest((self.user + self.system) / 1000),
      },
      machineBusyPct: busy.busyPct,
      foreignCpuPct: busy.foreignPct,
      attempts: 1,
      ...(spec.storedKeys !== undefined
        ? { storedKeys: spec.storedKeys, served: target.served, rss: rss(target) }
        : {}),
    };
  };

  return async (target, spec) => {
    let best: Cell | null = null;
    for (let attempt = 1; attempt <= 1 + options.retries; attempt++) {
      await waitQuiet();
      const cell = await measureOnce(target, spec);
      cell.attempts = attempt;
      if (best === null || cell.foreignCpuPct < best.foreignCpuPct) best = cell;
      if (cell.foreignCpuPct <= options.quietPct || attempt > options.retries || !mayWait()) break;
      log(
        `  (${cell.foreignCpuPct}% of the machine was busy with other processes: measuring again)`,
      );
    }
    const cell = best as Cell;
    cells.push(cell);
    log(
      `  ${cell.scenario.padEnd(13)} ${cell.target.padEnd(22)} c=${String(cell.connections).padEnd(3)} ` +
        `${cell.rps.toFixed(0).padStart(6)} rps  p50 ${cell.p50.toFixed(2)} ms  p99 ${cell.p99.toFixed(2)} ms  ` +
        `errors ${cell.errors}  origin calls ${cell.originCalls}  workerd ${cell.cpuUsPerRequest.workerd ?? "?"} µs/req  ` +
        `busy ${cell.machineBusyPct}% (other ${cell.foreignCpuPct}%)` +
        (cell.rss
          ? `  stored ${cell.storedKeys}  rss ${cell.rss.workerMiB}+${cell.rss.proxyMiB} MiB`
          : ""),
    );
    return cell;
  };
}
