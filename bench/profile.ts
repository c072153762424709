import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SourceMap } from "node:module";
import { parseArgs } from "node:util";
import { groupCpu } from "../harness/proc.ts";
import { buildWorkers } from "../harness/workerd-serve.ts";
import { BOTH_WORKERS, PROJECT_ROOT } from "../harness/wrangler-dev.ts";
import { runLoad } from "./measure.ts";
import {
  BARE_CONFIG,
  FLOOR_CONFIGS,
  exportRef,
  prime,
  startOrigin,
  startTarget,
  stopAll,
  type Target,
} from "./targets.ts";

/**
 * `npx node bench/profile.ts`: where one Worker spends its CPU under load, in workerd alone (no
 * proxy). Starts the origin and one target (the gateway, or the bare proxy) with workerd's
 * inspector, warms it up, then runs V8's sampling profiler in every isolate (the gateway Worker
 * and the coordinator Worker's objects) during a load of `--seconds` at `--connections`, and
 * prints the functions with the most self time, with the process's CPU per request from /proc.
 * The `.cpuprofile` files (Chrome DevTools, "Performance") go to `--out`. bench/README.md cites
 * what it found.
 */

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "gateway" },
    scenario: { type: "string", default: "first" },
    connections: { type: "string", default: "1" },
    seconds: { type: "string", default: "10" },
    ref: { type: "string" },
    var: { type: "string", multiple: true },
    out: { type: "string", default: "bench/.tmp/profiles" },
    top: { type: "string", default: "25" },
    disk: { type: "boolean" },
    perf: { type: "boolean" },
    plain: { type: "boolean" },
    lines: { type: "boolean" },
    repeat: { type: "string", default: "1" },
  },
});
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const bare = values.target === "bare";
const floor = values.target === "floor";
const vars = Object.fromEntries(
  (values.var ?? []).map((pair) => [
    pair.slice(0, pair.indexOf(":")),
    pair.slice(pair.indexOf(":") + 1),
  ]),
);

const dir = path.join(PROJECT_ROOT, "bench", ".tmp", `profile-${process.pid}`);
const stateDir =
  values.disk !== true && fs.existsSync("/dev/shm")
    ? path.join("/dev/shm", `profile-${process.pid}`)
    : path.join(dir, "state");
const out = path.resolve(PROJECT_ROOT, values.out);
fs.mkdirSync(out, { recursive: true });
// The load generator on core 0, the target on the others, as in `npm run bench`.
const cores = os.availableParallelism();
const pinned = cores >= 2;
if (pinned)
  execFileSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)], { stdio: "ignore" });

/** A DevTools protocol session with one isolate. */
interface Session {
  title: string;
  call(method: string, params?: object): Promise<Record<string, unknown>>;
  close(): void;
}

async function connect(url: string, title: string): Promise<Session> {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve);
    socket.addEventListener("error", reject);
  });
  let next = 0;
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  socket.addEventListener("message", (event: { data: unknown }) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: object };
    if (message.id !== undefined)
      pending.get(message.id)?.(message.result as Record<string, unknown>);
  });
  return {
    title,
    call: (method, params = {}) => {
      const id = ++next;
      const answer = new Promise<Record<string, unknown>>((resolve) => pending.set(id, resolve));
      socket.send(JSON.stringify({ id, method, params }));
      return Promise.race([
        answer,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000),
        ),
      ]);
    },
    close: () => socket.close(),
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  /** Samples by source line of the function (1-based), when the profiler recorded them. */
  positionTicks?: { line: number; ticks: number }[];
}

/** The source maps of the bundles (wrangler writes `<bundle>.js.map`), by bundle file name. */
const sourceMaps = new Map<string, SourceMap>();

/** `file:line:column` in the project's sources for a position in a bundle, when mapped. */
function original(url: string, line: number, column: number): string {
  const bundle = path.basename(url);
  const map = sourceMaps.get(bundle);
  const entry = map?.findEntry(line, column);
  if (entry === undefined || !("originalSource" in entry))
    return `${bundle}:${line + 1}:${column + 1}`;
  const source = entry.originalSource.replace(/^.*?\/(src|node_modules)\//, "$1/");
  return `${source}:${entry.originalLine + 1}`;
}

/**
 * Self time in % of the profile's samples, highest first: by function (where each starts), or
 * with `byLine` (`--lines`: the bundles unminified, so that a bundle's line is one source line)
 * by the source line the samples fell on, native calls showing on the line that makes them.
 */
function selfTime(profile: { nodes: ProfileNode[] }, top: number, byLine: boolean): string[] {
  const counts = new Map<string, number>();
  let total = 0;
  const add = (name: string, hits: number) => counts.set(name, (counts.get(name) ?? 0) + hits);
  for (const node of profile.nodes) {
    total += node.hitCount ?? 0;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const ticks = byLine && url !== "" ? (node.positionTicks ?? []) : [];
    if (ticks.length > 0) {
      for (const { line, ticks: hits } of ticks) add(original(url, line - 1, 1_000), hits);
    } else {
      const name =
        url === "" ? functionName || "(anonymous)" : original(url, lineNumber, columnNumber);
      add(name, node.hitCount ?? 0);
    }
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(
      ([name, hits]) => `${((100 * hits) / Math.max(1, total)).toFixed(1).padStart(5)}%  ${name}`,
    );
}

/**
 * One measured load of `seconds` at `connections`: prints its rate, p50 and the workerd process's
 * CPU per answer (from /proc).
 */
async function measuredLoad(
  target: Target,
  connections: number,
  seconds: number,
  nextKey: () => string,
): Promise<void> {
  const pid = target.dev.process.pid ?? -1;
  const before = groupCpu(pid).workerdMs;
  const load = await runLoad(
    target,
    { connections, durationS: seconds, maxS: seconds + 30 },
    nextKey,
  );
  const cpuMs = groupCpu(pid).workerdMs - before;
  console.log(
    `${target.name}, ${values.scenario}, ${connections} connections: ${load.rps.toFixed(0)} rps, p50 ${load.p50.toFixed(2)} ms, workerd ${Math.round((cpuMs * 1000) / Math.max(1, load.ok))} µs CPU per request (${load.ok} answers, ${load.errors} errors)`,
  );
}

try {
  const configs =
    values.ref === undefined ? BOTH_WORKERS : exportRef(values.ref, path.join(dir, "gw"));
  const built = await buildWorkers(
    bare ? [BARE_CONFIG] : floor ? FLOOR_CONFIGS : configs,
    path.join(dir, "build"),
    { minify: values.lines !== true },
  );
  for (const worker of built) {
    const file = path.join(worker.dir, `${worker.module}.map`);
    if (!fs.existsSync(file)) continue;
    const payload = JSON.parse(fs.readFileSync(file, "utf8")) as ConstructorParameters<
      typeof SourceMap
    >[0];
    sourceMaps.set(worker.module, new SourceMap(payload));
  }
  const origin = await startOrigin(20);
  const inspectorPort = 9300 + (process.pid % 500);
  const target = await startTarget({
    name: bare ? "bare proxy" : floor ? "floor" : "gateway",
    mode: "workerd",
    config: bare ? "bare" : "defaults",
    shards: bare ? null : 64,
    originUrl: origin.url,
    // On tmpfs where there is one, as `npm run bench` keeps workerd's state (bench/README.md,
    // "Storage"); `--disk` keeps it on disk.
    persistTo: stateDir,
    built,
    vars,
    ...(pinned ? { cpus: cores === 2 ? "1" : `1-${cores - 1}` } : {}),
    extraArgs:
      values.perf === true || values.plain === true
        ? []
        : [`--inspector-addr=127.0.0.1:${inspectorPort}`],
  });
  const fresh = () => `profile-${randomUUID()}`;
  const warm = Array.from({ length: 300 }, fresh);
  let i = 0;
  const nextKey = values.scenario === "replay" ? () => warm[i++ % warm.length] as string : fresh;
  // Every shard's object exists and every path is compiled before the profile starts.
  if (!bare) await prime(target, warm);
  await runLoad(target, { connections: 32, amount: 2_000, maxS: 120 }, nextKey);
  await runLoad(target, { connections, durationS: 2, maxS: 30 }, nextKey);

  if (values.plain === true) {
    for (let round = 0; round < Number(values.repeat); round++) {
      await measuredLoad(target, connections, seconds, nextKey);
    }
  } else if (values.perf === true) {
    await perfProfile(target, connections, seconds, nextKey);
  } else await v8Profiles(target, inspectorPort, connections, seconds, nextKey);
} finally {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(stateDir, { recursive: true, force: true });
}

/**
 * `--perf`: `perf record -g` on the target's workerd process during the load, then its report by
 * shared object and symbol (workerd's own symbols are in its binary; JIT code shows as
 * `[JIT]`/unknown): the split between JavaScript, SQLite, the RPC layer and the kernel.
 */
async function perfProfile(
  target: Target,
  connections: number,
  seconds: number,
  nextKey: () => string,
): Promise<void> {
  const pid = target.dev.process.pid ?? -1;
  const data = path.join(out, `perf-${process.pid}.data`);
  const perf = spawn("perf", ["record", "-F", "2000", "-g", "-o", data, "-p", String(pid)], {
    stdio: "ignore",
  });
  await measuredLoad(target, connections, seconds, nextKey);
  perf.kill("SIGINT");
  await new Promise((resolve) => perf.once("exit", resolve));
  for (const sort of ["dso", "dso,symbol"]) {
    const report = execFileSync(
      "perf",
      [
        "report",
        "-i",
        data,
        "--no-children",
        "--sort",
        sort,
        "--stdio",
        "-g",
        "none",
        "--percent-limit",
        "0.7",
      ],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] },
    );
    console.log(
      report
        .split("\n")
        .filter((line) => line !== "" && !line.startsWith("#"))
        .join("\n"),
    );
  }
}

/** V8's sampling profiler in every isolate of the target during the load. */
async function v8Profiles(
  target: Target,
  inspectorPort: number,
  connections: number,
  seconds: number,
  nextKey: () => string,
): Promise<void> {
  const list = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as {
    id: string;
    title?: string;
    webSocketDebuggerUrl: string;
  }[];
  const sessions = await Promise.all(list.map((t) => connect(t.webSocketDebuggerUrl, t.id)));
  for (const session of sessions) {
    await session.call("Profiler.enable");
    await session.call("Profiler.setSamplingInterval", { interval: 100 });
    await session.call("Profiler.start");
  }
  await measuredLoad(target, connections, seconds, nextKey);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  for (const session of sessions) {
    const { profile } = (await session.call("Profiler.stop")) as {
      profile: { nodes: ProfileNode[] };
    };
    const file = path.join(
      out,
      `${stamp}-${session.title.replace(/[^a-z0-9-]/gi, "_")}.cpuprofile`,
    );
    fs.writeFileSync(file, JSON.stringify(profile));
    console.log(`\n${session.title} (${path.relative(PROJECT_ROOT, file)}), self time:`);
    for (const line of selfTime(profile, Number(values.top), values.lines === true)) {
      console.log(`  ${line}`);
    }
    session.close();
  }
}
