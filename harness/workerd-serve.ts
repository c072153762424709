import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { unstable_readConfig } from "wrangler";
import { PROJECT_ROOT } from "./wrangler-dev.ts";

/**
 * Runs Workers in `workerd serve` alone, without `wrangler dev`'s proxy: the bundles `wrangler
 * deploy --dry-run` writes (the bytes a deploy uploads), wired by a Cap'n Proto config generated
 * from the same wrangler configs (vars, Durable Object bindings with `script_name`, SQLite classes
 * from the migrations, compatibility date and flags), with Durable Object storage in SQLite files
 * on disk as under `wrangler dev --persist-to`. One workerd process serves the first config's
 * Worker on its socket; nothing else sits in front of it. For the benchmark (bench/README.md).
 */

const execFileAsync = promisify(execFile);

/** The workerd binary `wrangler dev` runs (wrangler's own dependency), so both run one version. */
export const WORKERD_BIN = (() => {
  const own = path.join(PROJECT_ROOT, "node_modules", "wrangler", "node_modules", "workerd");
  const dir = fs.existsSync(own) ? own : path.join(PROJECT_ROOT, "node_modules", "workerd");
  return path.join(dir, "bin", "workerd");
})();

/** One Worker built for `workerd serve`: its config as wrangler reads it, and its bundle. */
export interface BuiltWorker {
  name: string;
  /** The bundle's main module, relative to `dir`. */
  module: string;
  dir: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  vars: Record<string, unknown>;
  durableObjects: { name: string; className: string; scriptName?: string }[];
  /** Classes this Worker defines, from its migrations: SQLite-backed or not. */
  classes: { className: string; sql: boolean }[];
  services: { binding: string; service: string }[];
}

/**
 * Bundles each wrangler config with `wrangler deploy --dry-run --outdir` into `outDir` (in
 * parallel) and reads its settings. Minified or not, as the config says: what a deploy uploads.
 */
export async function buildWorkers(
  configs: readonly string[],
  outDir: string,
  { minify = true }: { minify?: boolean } = {},
): Promise<BuiltWorker[]> {
  const wrangler = path.join(PROJECT_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
  return Promise.all(
    configs.map(async (config) => {
      const read = unstable_readConfig({ config: path.resolve(PROJECT_ROOT, config) }, {});
      const dir = path.join(outDir, read.name ?? path.basename(config, ".toml"));
      const args = [wrangler, "deploy", "--dry-run", "-c", config, "--outdir", dir];
      // Unminified only for profiles by source line (bench/profile.ts --lines).
      if (!minify) args.push("--no-minify");
      const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" };
      await execFileAsync(process.execPath, args, { cwd: PROJECT_ROOT, env });
      const main = path.basename(read.main ?? "index.ts").replace(/\.[cm]?[jt]s$/, ".js");
      if (!fs.existsSync(path.join(dir, main))) throw new Error(`${config}: no ${main} in ${dir}`);
      const migrations = read.migrations as {
        new_classes?: string[];
        new_sqlite_classes?: string[];
      }[];
      const classes = migrations.flatMap((m) => [
        ...(m.new_sqlite_classes ?? []).map((className) => ({ className, sql: true })),
        ...(m.new_classes ?? []).map((className) => ({ className, sql: false })),
      ]);
      const bindings = read.durable_objects.bindings as {
        name: string;
        class_name: string;
        script_name?: string;
      }[];
      const services = (read.services ?? []) as { binding: string; service: string }[];
      return {
        name: read.name ?? "worker",
        module: main,
        dir,
        compatibilityDate: read.compatibility_date ?? "2026-11-01",
        compatibilityFlags: read.compatibility_flags,
        vars: read.vars,
        durableObjects: bindings.map((b) => ({
          name: b.name,
          className: b.class_name,
          ...(b.script_name !== undefined ? { scriptName: b.script_name } : {}),
        })),
        classes,
        services: services.map((s) => ({ binding: s.binding, service: s.service })),
      };
    }),
  );
}

/** Options of {@link startWorkerdServe}. */
export interface WorkerdServeOptions {
  /** The Workers, the first served on the socket (the others reached through bindings). */
  workers: readonly BuiltWorker[];
  /** Extra vars of the first Worker, as `wrangler dev --var` sets them. */
  vars?: Record<string, string>;
  /** Directory for the config, the Durable Objects' SQLite files and the console output. */
  stateDir: string;
  /** `taskset -c` CPU list for the process; none: any CPU. */
  cpus?: string;
  /** Extra workerd arguments (e.g. `--inspector-addr=127.0.0.1:9229` for a profile). */
  extraArgs?: readonly string[];
  readyTimeoutMs?: number;
}

/** A running `workerd serve`. The same shape as a `WranglerDev` where the bench needs it. */
export interface WorkerdServe {
  url: string;
  port: number;
  process: ChildProcess;
  /** The console output so far (its last 64 KiB): written to a file, never through this process. */
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/**
 * The Cap'n Proto text config of `workers`, the first served by the socket `http`, for a config
 * file written in `configDir`.
 */
export function capnpConfig(
  workers: readonly BuiltWorker[],
  vars: Record<string, string>,
  storageDir: string,
  configDir: string,
): string {
  const str = (s: string) => JSON.stringify(s);
  const serviceName = (name: string) => `w-${name}`;
  const constName = (index: number) => `worker${index}`;
  const services = workers.map(
    (w, i) => `(name = ${str(serviceName(w.name))}, worker = .${constName(i)})`,
  );
  const defs = workers.map((w, i) => {
    const allVars: Record<string, unknown> = { ...w.vars, ...(i === 0 ? vars : {}) };
    const bindings = [
      ...Object.entries(allVars).map(([name, value]) =>
        typeof value === "string"
          ? `(name = ${str(name)}, text = ${str(value)})`
          : `(name = ${str(name)}, json = ${str(JSON.stringify(value))})`,
      ),
      ...w.durableObjects.map((d) =>
        d.scriptName === undefined
          ? `(name = ${str(d.name)}, durableObjectNamespace = ${str(d.className)})`
          : `(name = ${str(d.name)}, durableObjectNamespace = (className = ${str(d.className)}, serviceName = ${str(serviceName(d.scriptName))}))`,
      ),
      ...w.services.map(
        (s) => `(name = ${str(s.binding)}, service = ${str(serviceName(s.service))})`,
      ),
    ];
    const namespaces = w.classes.map(
      (c) =>
        `(className = ${str(c.className)}, uniqueKey = ${str(`${w.name}-${c.className}`)}, enableSql = ${c.sql})`,
    );
    // capnp reads a path starting with "/" from its import path: relative to the config instead.
    const module = path.relative(configDir, path.join(w.dir, w.module));
    return [
      `const ${constName(i)} :Workerd.Worker = (`,
      `  modules = [(name = ${str(w.module)}, esModule = embed ${str(module)})],`,
      `  compatibilityDate = ${str(w.compatibilityDate)},`,
      `  compatibilityFlags = [${w.compatibilityFlags.map(str).join(", ")}],`,
      `  bindings = [${bindings.join(", ")}],`,
      ...(namespaces.length > 0
        ? [
            `  durableObjectNamespaces = [${namespaces.join(", ")}],`,
            `  durableObjectStorage = (localDisk = "storage"),`,
          ]
        : []),
      `  globalOutbound = "internet",`,
      `);`,
    ].join("\n");
  });
  return [
    `using Workerd = import "/workerd/workerd.capnp";`,
    `const config :Workerd.Config = (`,
    `  services = [`,
    `    ${services.join(",\n    ")},`,
    // Loopback origins are "private"/"local" addresses, which workerd's default network refuses.
    `    (name = "internet", network = (allow = ["public", "private", "local"])),`,
    `    (name = "storage", disk = (path = ${str(storageDir)}, writable = true)),`,
    `  ],`,
    `  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = ${str(serviceName(workers[0]?.name ?? ""))})],`,
    `);`,
    ...defs,
    "",
  ].join("\n");
}

/**
 * Starts `workerd serve` with the generated config and resolves once its socket listens (workerd
 * reports the port on its control pipe, so port 0 is race-free).
 */
export async function startWorkerdServe(options: WorkerdServeOptions): Promise<WorkerdServe> {
  const { workers, stateDir, readyTimeoutMs = 30_000 } = options;
  const storageDir = path.join(stateDir, "storage");
  fs.mkdirSync(storageDir, { recursive: true });
  const configFile = path.join(stateDir, "config.capnp");
  fs.writeFileSync(configFile, capnpConfig(workers, options.vars ?? {}, storageDir, stateDir));
  const logFile = path.join(stateDir, "console.log");
  const log = fs.openSync(logFile, "a");
  const args = ["serve", configFile, "--control-fd=3", ...(options.extraArgs ?? [])];
  const [command, commandArgs] =
    options.cpus === undefined
      ? [WORKERD_BIN, args]
      : ["taskset", ["-c", options.cpus, WORKERD_BIN, ...args]];
  const child = spawn(command, commandArgs, {
    cwd: stateDir,
    // The console goes to a file, as production's logs go elsewhere than the request's process.
    stdio: ["ignore", log, log, "pipe"],
    // Its own process group, so that its CPU is read by group like a `wrangler dev`'s.
    detached: true,
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const output = () => {
    try {
      const text = fs.readFileSync(logFile);
      return text.subarray(Math.max(0, text.byteLength - 65_536)).toString();
    } catch {
      return "";
    }
  };
  const signal = (name: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      // Already gone.
    }
  };
  const stop = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      signal(name);
      const force = setTimeout(() => signal("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
  };
  const control = child.stdio[3];
  if (control === null || control === undefined || !("on" in control)) {
    throw new Error("workerd: no control pipe");
  }
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`workerd did not listen in ${readyTimeoutMs} ms:\n${output()}`)),
      readyTimeoutMs,
    );
    const lines = createInterface({ input: control as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      const message = JSON.parse(line) as { event?: string; socket?: string; port?: number };
      if (message.event === "listen" && message.socket === "http" && message.port) {
        clearTimeout(timer);
        resolve(message.port);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`workerd exited (${code}) before it listened:\n${output()}`));
    });
  }).catch(async (error: unknown) => {
    await stop("SIGKILL");
    throw error;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    output,
    stop: () => stop("SIGTERM"),
    kill: () => stop("SIGKILL"),
  };
}
