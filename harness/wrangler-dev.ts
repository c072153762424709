import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Starts `wrangler dev` as a real child process on 127.0.0.1 and resolves once it serves, for
 * `npm start`, the end-to-end tests, the benchmarks and the soak. Offline-safe: no `cf.json`
 * fetch, no telemetry.
 *
 * The project is two Workers (docs/adr/0010): the gateway (`wrangler.toml`) and the coordinator
 * Worker its `COORDINATOR` binding names with `script_name` (`wrangler.coordinator.toml`). By
 * default both run in one session, the gateway served. `startCoordinator` and `startGatewayAlone`
 * run them in two sessions instead, which find each other through a dev registry directory they
 * share: the shape of production, where either Worker is deployed without the other.
 */

/** The project root (where wrangler.toml lives). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The gateway Worker's config. */
export const GATEWAY_CONFIG = "wrangler.toml";
/** The coordinator Worker's config: the Durable Objects, bound by the gateway with `script_name`. */
export const COORDINATOR_CONFIG = "wrangler.coordinator.toml";
/** Both Workers in one session, the gateway first (the first config is the one served). */
export const BOTH_WORKERS: readonly string[] = [GATEWAY_CONFIG, COORDINATOR_CONFIG];

/** Options of `startWranglerDev`. */
export interface WranglerDevOptions {
  /** Port to listen on; a free one when omitted. */
  port?: number;
  /** `--var NAME:VALUE` pairs. */
  vars?: Record<string, string>;
  /** `--persist-to`: keeps state across restarts (the state of every Worker of the session). */
  persistTo?: string;
  /**
   * The session's wrangler configs, one Worker each, the first served. Default: both of the
   * project's Workers, {@link BOTH_WORKERS}.
   */
  config?: string | readonly string[];
  /**
   * The dev registry directory: where the session registers its Workers, and finds those of other
   * sessions that its bindings name but it does not run. Default: a directory of its own, removed
   * when it stops, so that sessions started in parallel never see (or bind) each other's Workers.
   */
  registry?: string;
  /** Extra environment for the process. */
  env?: Record<string, string>;
  /** Echo wrangler's output to this process's stdout. */
  inheritOutput?: boolean;
  /** How long to wait for "Ready on". Default 60 s. */
  readyTimeoutMs?: number;
  /**
   * `taskset -c` CPU list for wrangler and its workerd processes (the benchmark keeps its load
   * generator off them); none: any CPU.
   */
  cpus?: string;
}

/** A running `wrangler dev`. */
export interface WranglerDev {
  url: string;
  port: number;
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /**
   * Resolves once its output from position `from` on (default 0: all of it; `output().length`:
   * from now on) contains `text`; rejects after `timeoutMs` (default 10 s).
   */
  waitForOutput(text: string, timeoutMs?: number, from?: number): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and resolves when it has exited. */
  stop(): Promise<void>;
  /** Kills it at once, as a crash would (SIGKILL). */
  kill(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `wrangler dev --ip 127.0.0.1` and waits until it prints that it is ready.
 *
 * @example
 * const dev = await startWranglerDev({ vars: { ORIGIN_URL: origin.url } });
 * await fetch(`${dev.url}/__idempotency/health`);
 * await dev.stop();
 */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const {
    vars = {},
    persistTo,
    config = BOTH_WORKERS,
    env = {},
    inheritOutput = false,
    readyTimeoutMs = 60_000,
  } = options;
  const configs = typeof config === "string" ? [config] : config;
  const ownRegistry =
    options.registry === undefined ? mkdtempSync(path.join(tmpdir(), "idem-registry-")) : null;
  const registry = options.registry ?? (ownRegistry as string);
  // Port 0: the OS picks a free port when wrangler binds it, and "Ready on" names it. Picking one
  // here first and passing it on races with every other process starting at the same time.
  const requestedPort = options.port ?? 0;
  const args = [
    path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(requestedPort),
    "--inspector-port",
    "0",
    "--show-interactive-dev-session=false",
    "--log-level",
    "log",
  ];
  // Several configs run several Workers in one session: the first is served on the port, the
  // others are reachable through bindings (service, and Durable Object with `script_name`).
  // `--var` reaches the first only, and `--persist-to` holds the state of all of them.
  for (const file of configs) args.push("--config", file);
  if (persistTo !== undefined) args.push("--persist-to", persistTo);
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);

  const [command, commandArgs] =
    options.cpus === undefined
      ? [process.execPath, args]
      : ["taskset", ["-c", options.cpus, process.execPath, ...args]];
  const child = spawn(command, commandArgs, {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      DO_NOT_TRACK: "1",
      CI: "1",
      // wrangler passes WRANGLER_REGISTRY_PATH to miniflare, which prefers
      // CLOUDFLARE_DEV_REGISTRY_PATH when that is set: both, so neither a default in the user's
      // home nor a variable of the caller's shell decides which Workers a session sees.
      WRANGLER_REGISTRY_PATH: registry,
      CLOUDFLARE_DEV_REGISTRY_PATH: registry,
      // Off unless asked for: wrangler's local trace collector (development tooling, not Workers
      // Logs) records every request and storage call and costs about as much CPU as the gateway
      // itself, so `npm start` and the benchmark's "defaults" run what production runs
      // (bench/README.md, "Defaults").
      X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? "false",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: wrangler runs workerd as a child, and a signal to wrangler alone
    // would leave workerd serving (and, after a "crash", finishing requests) as an orphan.
    detached: true,
  });
  let output = "";
  let served = false;
  const watchers = new Set<() => void>();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`wrangler dev did not become ready in ${readyTimeoutMs} ms:\n${output}`));
    }, readyTimeoutMs);
    const onData = (data: Buffer) => {
      const text = data.toString();
      output += text;
      if (inheritOutput) process.stdout.write(text);
      for (const watch of watchers) watch();
      // Looked for until found, never after: a regular expression run on the whole output flattens
      // it, and with a log line per request that is work per line, done by the process that also
      // generates the benchmark's load.
      if (!served && /Ready on http:\/\/127\.0\.0\.1:\d+/.test(output)) {
        served = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`wrangler dev exited (${code}) before it was ready:\n${output}`));
    });
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  const stop = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      signalGroup(signal);
      const force = setTimeout(() => signalGroup("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    // Whatever wrangler left behind in its group goes with it.
    signalGroup("SIGKILL");
    if (ownRegistry !== null) {
      rmSync(ownRegistry, { recursive: true, force: true });
    } else {
      // A session that died without unregistering (SIGKILL) leaves its entries for up to 90 s,
      // and a successor with the same Worker names would wait that long to register.
      for (const name of configs.map(workerName)) {
        rmSync(path.join(registry, name), { force: true });
      }
    }
  };

  try {
    await ready;
  } catch (error) {
    await stop("SIGKILL");
    throw error;
  }
  if (ownRegistry !== null) {
    // Removed however the process ends, not only through `stop`.
    void exited.then(() => rmSync(ownRegistry, { recursive: true, force: true }));
  }
  const port = Number(/Ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1] ?? requestedPort);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    output: () => output,
    waitForOutput: (text, timeoutMs = 10_000, from = 0) =>
      new Promise<void>((resolve, reject) => {
        const watch = () => {
          if (!output.includes(text, from)) return;
          watchers.delete(watch);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(new Error(`wrangler dev never printed ${JSON.stringify(text)}`));
        }, timeoutMs);
        watchers.add(watch);
        watch();
      }),
    stop: () => stop("SIGTERM"),
    kill: () => stop("SIGKILL"),
  };
}

/** The `name` of a wrangler config (TOML), as the dev registry names its entry. */
function workerName(config: string): string {
  const text = readFileSync(path.resolve(PROJECT_ROOT, config), "utf8");
  const name = /^name\s*=\s*"([^"]+)"/m.exec(text)?.[1];
  if (name === undefined) throw new Error(`${config}: no top-level name`);
  return name;
}

/** A dev registry directory for sessions that must find each other, and only each other. */
export interface Registry {
  path: string;
  /** Removes the directory (after the sessions using it have stopped). */
  remove(): void;
}

/**
 * A fresh dev registry directory. Sessions given the same one bind each other's Workers; sessions
 * of other registries (other tests running in parallel) are invisible to them.
 *
 * @example
 * const registry = createRegistry();
 * const coordinator = await startCoordinator({ registry: registry.path, persistTo: dir });
 * const gateway = await startGatewayAlone({ registry: registry.path, vars: { ORIGIN_URL } });
 */
export function createRegistry(): Registry {
  const dir = mkdtempSync(path.join(tmpdir(), "idem-registry-"));
  return { path: dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Options of `startCoordinator` and `startGatewayAlone`: a shared registry is required. */
export type SessionOptions = Omit<WranglerDevOptions, "config" | "registry"> & { registry: string };

/**
 * The coordinator Worker alone in a session (`wrangler.coordinator.toml`), as it is deployed:
 * its Durable Objects, reached by gateway sessions of the same registry. Its own port answers
 * 404. Keep `persistTo` across restarts for its objects' storage.
 */
export function startCoordinator(options: SessionOptions): Promise<WranglerDev> {
  return startWranglerDev({ ...options, config: COORDINATOR_CONFIG });
}

/**
 * The gateway Worker alone in a session (`wrangler.toml`), as it is deployed: its `COORDINATOR`
 * binding reaches the objects of the coordinator session of the same registry, which may be
 * started before or after it. Stopping and starting it again is what a deploy of the gateway is.
 */
export function startGatewayAlone(options: SessionOptions): Promise<WranglerDev> {
  return startWranglerDev({ ...options, config: GATEWAY_CONFIG });
}
