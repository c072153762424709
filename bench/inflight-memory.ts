import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { groupProcesses, workerdRss } from "../harness/proc.ts";
import { startTestOrigin, type TestOrigin } from "../harness/test-origin.ts";
import { PROJECT_ROOT, startWranglerDev, type WranglerDev } from "../harness/wrangler-dev.ts";
import { exportRef } from "./targets.ts";

/**
 * What one origin call in flight costs in memory, to size `MAX_INFLIGHT_CALLS`: N calls on
 * distinct keys, all in one object (`IDEMPOTENCY_SHARDS=1`), held at the origin's gate under the
 * real `wrangler dev`. Loopback only, bounded in count and time; every process is stopped.
 *
 *   npx node bench/inflight-memory.ts [--counts 100,200,400] [--repeats 1] [--ref HEAD]
 *
 * The gateway is exported as committed at `--ref` (`exportRef`) into bench/.tmp/, with its cap
 * raised to N in the copy only: the working tree is never edited. Three readings per N, each in
 * a `wrangler dev` session of its own (a round's idle connections to the origin, which closes
 * them after its 5 s keep-alive timeout, would race with the next round's requests):
 * - **both Workers**: the resident memory (/proc) of the one workerd process that runs the
 *   gateway and the coordinator Worker together: each call counts twice over (the gateway's
 *   invocation waiting on the object, and the object's call), native buffers included;
 * - **object's process**: the coordinator Worker in a session of its own, reached through a dev
 *   registry as a deployed gateway reaches it: the resident memory of its workerd process, which
 *   runs only the object (native buffers of its origin connections and RPC included);
 * - **object's isolate**: the coordinator isolate's own memory from workerd's inspector, after a
 *   full GC: JS heap, the C++ objects on it, ArrayBuffers. What DevTools shows for an isolate,
 *   and what Cloudflare's 128 MB limit per isolate is about.
 */

const { values: args } = parseArgs({
  options: {
    counts: { type: "string", default: "100,200,400" },
    repeats: { type: "string", default: "1" },
    ref: { type: "string", default: "HEAD" },
  },
});
const COUNTS = args.counts.split(",").map(Number);
const REPEATS = Number(args.repeats);
const TMP = path.join(PROJECT_ROOT, "bench", ".tmp", "inflight-memory");
/** A payment request of about 1 KB, and an answer of 1 KiB (`/bytes/1024`). */
const BODY = JSON.stringify({ amount: 1000, currency: "usd", description: "x".repeat(960) });
const ANSWER_PATH = "/bytes/1024";
/** Longest wait for N requests to reach the gate, for their answers, or for the inspector. */
const STEP_TIMEOUT_MS = 120_000;
/** The Worker whose isolate holds the objects (wrangler.coordinator.toml's `name`). */
const COORDINATOR_TARGET = "core:user:idempotency-coordinator";
const MiB = 2 ** 20;

const log = (line: string) => process.stdout.write(`${line}\n`);

/** The sessions running now: their own process groups, so Ctrl-C must stop them here. */
const running = new Set<WranglerDev>();
process.once("SIGINT", () => {
  void Promise.all([...running].map((dev) => dev.kill())).finally(() => process.exit(130));
});

/** Growth while N calls are held, in bytes, per reading. */
interface Row {
  count: number;
  bothWorkers: number;
  objectProcess: number;
  objectIsolate: number;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: not within ${STEP_TIMEOUT_MS} ms`)),
      STEP_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The worker workerd process of a session: started with `--inspector-addr` (proc.ts). */
function workerProcess(dev: WranglerDev): number {
  for (const { pid, comm } of groupProcesses(dev.process.pid ?? -1)) {
    if (comm !== "workerd") continue;
    if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--inspector-addr=")) return pid;
  }
  throw new Error("no workerd process runs the Workers of this session");
}

/**
 * The median of five readings of the worker process's RSS, 200 ms apart: RSS moves by a few MiB
 * on its own (GC, allocator), and readings over a second smooth that out. Sampling is
 * measurement, not waiting for something.
 */
async function steadyRss(dev: WranglerDev): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 200));
    readings.push(workerdRss(dev.process.pid ?? -1).workerMiB * MiB);
  }
  return readings.sort((a, b) => a - b)[2] ?? 0;
}

function post(dev: WranglerDev, pathname: string): Promise<Response> {
  return fetch(dev.url + pathname, {
    method: "POST",
    headers: {
      authorization: "Bearer sk_test_inflight",
      "content-type": "application/json",
      "idempotency-key": randomUUID(),
    },
    body: BODY,
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
}

/**
 * Sends `count` requests held at a new gate; resolves once all wait there. An answer before the
 * gate opens (a refusal) ends the run, with what it said.
 */
async function hold(dev: WranglerDev, origin: TestOrigin, count: number) {
  const gate = randomUUID();
  const answers = Array.from({ length: count }, () => post(dev, `/gate/${gate}${ANSWER_PATH}`));
  let open = false;
  const early = new Promise<never>((_, reject) => {
    for (const answer of answers) {
      answer.then(
        async (response) => {
          if (open) return;
          const body = await response.text().catch((error: unknown) => `(body: ${String(error)})`);
          reject(new Error(`answered while held: ${response.status} ${body}`));
        },
        (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      );
    }
  });
  early.catch(() => undefined);
  await within(
    Promise.race([origin.arrivals(gate, count), early]),
    `${count} requests at the gate`,
  );
  return {
    /** Opens the gate; resolves once every answer is read, all of them 200. */
    release: async () => {
      open = true;
      origin.release(gate);
      const statuses = new Map<number, number>();
      for (const response of await within(Promise.all(answers), "the answers")) {
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
      if (statuses.size !== 1 || !statuses.has(200)) {
        throw new Error(`answers other than 200: ${JSON.stringify([...statuses])}`);
      }
    },
  };
}

/** How much `read` grows while `count` calls are held in a session. */
async function growth(
  dev: WranglerDev,
  origin: TestOrigin,
  count: number,
  read: () => Promise<number>,
): Promise<number> {
  const before = await read();
  const held = await hold(dev, origin, count);
  const during = await read();
  await held.release();
  return during - before;
}

/** The listening TCP ports of a process (proc(5): /proc/<pid>/fd and /proc/<pid>/net/tcp). */
function listeningPorts(pid: number): number[] {
  const sockets = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode !== undefined) sockets.add(inode);
    } catch {
      // closed since the listing
    }
  }
  const ports: number[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1)) {
    // "sl local_address rem_address st … inode": the address is "HEXIP:HEXPORT", 0A is LISTEN.
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== "0A" || !sockets.has(fields[9] ?? "")) continue;
    ports.push(parseInt(fields[1]?.split(":")[1] ?? "0", 16));
  }
  return ports;
}

/** A DevTools protocol session with one isolate. */
interface Inspector {
  call(method: string, params?: object): Promise<Record<string, number>>;
  close(): void;
}

/**
 * The inspector of the coordinator Worker's isolate: workerd lists its isolates at `/json/list`
 * on the port it picked for `--inspector-addr`. wrangler holds the first Worker's (one client
 * only); the coordinator Worker is the second of the session, so nobody holds its.
 */
async function coordinatorInspector(dev: WranglerDev): Promise<Inspector> {
  for (const port of listeningPorts(workerProcess(dev))) {
    let targets: unknown;
    try {
      const list = await fetch(`http://127.0.0.1:${port}/json/list`, {
        signal: AbortSignal.timeout(2_000),
      });
      targets = await list.json();
    } catch {
      continue; // not the inspector
    }
    if (!Array.isArray(targets)) continue;
    const target = (targets as { id: string; webSocketDebuggerUrl: string }[]).find(
      (t) => t.id === COORDINATOR_TARGET,
    );
    if (target !== undefined) return connect(target.webSocketDebuggerUrl);
  }
  throw new Error(`workerd's inspector lists no ${COORDINATOR_TARGET}`);
}

async function connect(url: string): Promise<Inspector> {
  // Node's own WebSocket (the type checker sees the Workers one: same events, no `on…` fields).
  const socket = new WebSocket(url);
  await within(
    new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve);
      socket.addEventListener("error", reject);
    }),
    "the inspector",
  );
  let next = 0;
  const pending = new Map<number, (result: Record<string, number>) => void>();
  socket.addEventListener("message", (event: { data: unknown }) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: object };
    if (message.id === undefined) return; // an event (snapshot chunks): not needed
    pending.get(message.id)?.(message.result as Record<string, number>);
  });
  return {
    call: (method, params = {}) => {
      const id = ++next;
      const answer = new Promise<Record<string, number>>((resolve) => pending.set(id, resolve));
      socket.send(JSON.stringify({ id, method, params }));
      return within(answer, method);
    },
    close: () => socket.close(),
  };
}

/**
 * The isolate's bytes after a full GC: JS heap, the C++ objects on it, ArrayBuffers. A heap
 * snapshot starts with a full GC (workerd never answers `HeapProfiler.collectGarbage`).
 */
async function isolateBytes(inspector: Inspector): Promise<number> {
  await inspector.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  const usage = await inspector.call("Runtime.getHeapUsage");
  return (
    (usage.usedSize ?? 0) + (usage.embedderHeapUsedSize ?? 0) + (usage.backingStorageSize ?? 0)
  );
}

/** Starts a warmed-up session: the object exists, its code is compiled, the gate path taken. */
async function startSession(
  configs: readonly string[],
  origin: TestOrigin,
  dir: string,
  registry?: string,
): Promise<WranglerDev> {
  const dev = await startWranglerDev({
    config: configs,
    vars: { ORIGIN_URL: origin.url, IDEMPOTENCY_SHARDS: "1" },
    persistTo: path.join(dir, "state"),
    ...(registry !== undefined ? { registry } : {}),
    // wrangler's local trace collector keeps a record of every request: tooling, not product.
    env: { X_LOCAL_OBSERVABILITY: "false" },
    readyTimeoutMs: 120_000,
  });
  running.add(dev);
  return dev;
}

async function stopAll(): Promise<void> {
  await Promise.all([...running].map((dev) => dev.stop()));
  running.clear();
}

async function warmUp(dev: WranglerDev, origin: TestOrigin): Promise<void> {
  for (let i = 0; i < 30; i++) await (await post(dev, ANSWER_PATH)).arrayBuffer();
  await (await hold(dev, origin, 1)).release();
}

/** The three readings for `count` calls (see the opening comment), each in a fresh session. */
async function measure(count: number, origin: TestOrigin): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(TMP, "run-"));
  const tree = path.join(dir, "tree");
  const [gatewayConfig, coordinatorConfig] = exportGateway(tree, count);
  if (gatewayConfig === undefined || coordinatorConfig === undefined) {
    throw new Error(`${args.ref} has no coordinator Worker of its own (wrangler.coordinator.toml)`);
  }
  const inSession = async <T>(
    configs: string[],
    round: (dev: WranglerDev) => Promise<T>,
  ): Promise<T> => {
    const sessionDir = fs.mkdtempSync(path.join(dir, "session-"));
    const dev = await startSession(configs, origin, sessionDir);
    try {
      await warmUp(dev, origin);
      return await round(dev);
    } finally {
      await stopAll();
    }
  };
  try {
    const both = [gatewayConfig, coordinatorConfig];
    const bothWorkers = await inSession(both, (dev) =>
      growth(dev, origin, count, () => steadyRss(dev)),
    );
    const objectIsolate = await inSession(both, async (dev) => {
      const inspector = await coordinatorInspector(dev);
      try {
        await inspector.call("HeapProfiler.enable");
        return await growth(dev, origin, count, () => isolateBytes(inspector));
      } finally {
        inspector.close();
      }
    });
    // The coordinator Worker alone in one session, the gateway in another, as deployed.
    const registry = fs.mkdtempSync(path.join(dir, "registry-"));
    const session = () => fs.mkdtempSync(path.join(dir, "session-"));
    const object = await startSession([coordinatorConfig], origin, session(), registry);
    const gateway = await startSession([gatewayConfig], origin, session(), registry);
    let objectProcess: number;
    try {
      await warmUp(gateway, origin);
      objectProcess = await growth(gateway, origin, count, () => steadyRss(object));
    } finally {
      await stopAll();
    }
    return { count, bothWorkers, objectProcess, objectIsolate };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Exports the gateway at `--ref` into `dir` with its cap of calls per object raised to `count`. */
function exportGateway(dir: string, count: number): string[] {
  const configs = exportRef(args.ref, dir);
  const file = path.join(dir, "src", "coordinator", "coordinator.ts");
  const source = fs.readFileSync(file, "utf8");
  const cap = /export const MAX_INFLIGHT_CALLS = \d+;/;
  if (!cap.test(source)) throw new Error(`no MAX_INFLIGHT_CALLS constant in ${file}`);
  const raised = `export const MAX_INFLIGHT_CALLS = ${Math.max(128, count)};`;
  fs.writeFileSync(file, source.replace(cap, raised));
  return configs;
}

function report(rows: readonly Row[]): void {
  const perCall = (bytes: number, count: number) => (bytes / 1024 / count).toFixed(0);
  const mib = (bytes: number) => (bytes / MiB).toFixed(1);
  log("\n| N | both Workers (RSS) | object's process (RSS) | object's isolate (after GC) |");
  log("| ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    const cell = (bytes: number) => `${mib(bytes)} MiB, ${perCall(bytes, r.count)} KiB/call`;
    log(
      `| ${r.count} | ${cell(r.bothWorkers)} | ${cell(r.objectProcess)} | ${cell(r.objectIsolate)} |`,
    );
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(TMP, { recursive: true });
  const origin = await startTestOrigin();
  const rows: Row[] = [];
  try {
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const count of COUNTS) {
        const row = await measure(count, origin);
        log(`N=${count}: ${JSON.stringify(row)}`);
        rows.push(row);
      }
    }
  } finally {
    await stopAll();
    await origin.close();
  }
  report(rows);
}

await main();
