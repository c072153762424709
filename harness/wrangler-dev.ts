import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Starts `wrangler dev` as a real child process on 127.0.0.1 and resolves once it serves, for
 * `npm start`, the end-to-end tests and the benchmarks. Offline-safe: no `cf.json` fetch, no
 * telemetry.
 */

/** The project root (where wrangler.toml lives). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Options of `startWranglerDev`. */
export interface WranglerDevOptions {
  /** Port to listen on; a free one when omitted. */
  port?: number;
  /** `--var NAME:VALUE` pairs. */
  vars?: Record<string, string>;
  /** `--persist-to`: keeps state across restarts. */
  persistTo?: string;
  /** A wrangler config other than the project's, or several (one Worker each; the first served). */
  config?: string | readonly string[];
  /** Extra environment for the process. */
  env?: Record<string, string>;
  /** Echo wrangler's output to this process's stdout. */
  inheritOutput?: boolean;
  /** How long to wait for "Ready on". Default 60 s. */
  readyTimeoutMs?: number;
}

/** A running `wrangler dev`. */
export interface WranglerDev {
  url: string;
  port: number;
  process: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves once its output contains `text` (rejects after `timeoutMs`, default 10 s). */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
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
    config,
    env = {},
    inheritOutput = false,
    readyTimeoutMs = 60_000,
  } = options;
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
  // others are reachable through service bindings.
  for (const file of typeof config === "string" ? [config] : (config ?? [])) {
    args.push("--config", file);
  }
  if (persistTo !== undefined) args.push("--persist-to", persistTo);
  for (const [name, value] of Object.entries(vars)) args.push("--var", `${name}:${value}`);

  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      DO_NOT_TRACK: "1",
      CI: "1",
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
    if (child.exitCode !== null || child.signalCode !== null) {
      signalGroup("SIGKILL");
      return;
    }
    signalGroup(signal);
    const force = setTimeout(() => signalGroup("SIGKILL"), 5_000);
    await exited;
    clearTimeout(force);
    // Whatever wrangler left behind in its group goes with it.
    signalGroup("SIGKILL");
  };

  try {
    await ready;
  } catch (error) {
    await stop("SIGKILL");
    throw error;
  }
  const port = Number(/Ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1] ?? requestedPort);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    output: () => output,
    waitForOutput: (text, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const watch = () => {
          if (!output.includes(text)) return;
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
