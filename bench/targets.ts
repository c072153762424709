import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { workerdRss, type WorkerdRss } from "../harness/proc.ts";
import { startWorkerdServe, type BuiltWorker } from "../harness/workerd-serve.ts";
import {
  COORDINATOR_CONFIG,
  GATEWAY_CONFIG,
  PROJECT_ROOT,
  startWranglerDev,
} from "../harness/wrangler-dev.ts";
import type { ConfigName, Mode } from "./options.ts";
import type { OriginControl, OriginState } from "./origin.ts";

/** The processes of a run: the origin, the bare proxy and the gateways, and requests to them. */

/** The bare pass-through Worker's wrangler config. */
export const BARE_CONFIG = "bench/bare-proxy/wrangler.toml";

/**
 * The floor of the gateway's design: a Worker and a coordinator Worker that do only what any
 * gateway of this design must (bench/README.md, "The floor of the design").
 */
export const FLOOR_CONFIGS = ["bench/floor/wrangler.toml", "bench/floor/wrangler.coordinator.toml"];

/** The request every scenario sends (the `Idempotency-Key` is added per request). */
export const REQUEST = {
  method: "POST" as const,
  path: "/v1/payments",
  headers: { authorization: "Bearer sk_test_bench", "content-type": "application/json" },
  body: '{"amount":1000,"currency":"usd","description":"benchmark"}',
};

/** bench/origin.ts, running in a process of its own. */
export interface Origin {
  url: string;
  pid: number;
  /** Sends one control message and resolves with the answer; one at a time. */
  ask(control: OriginControl): Promise<OriginState>;
}

/** A running server of Workers: a `wrangler dev` or a `workerd serve`. */
export interface Server {
  url: string;
  process: ChildProcess;
  /** What it printed lately. */
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/**
 * A Worker under test: the bare proxy, or the gateway with one mapping and configuration, in
 * workerd alone or under `wrangler dev`.
 */
export interface Target {
  name: string;
  mode: Mode;
  /** The gateway's configuration; `bare` for the bare proxy. */
  config: ConfigName | "bare";
  /** `IDEMPOTENCY_SHARDS` of a gateway; null for the bare proxy. */
  shards: number | null;
  dev: Server;
  /** Requests it has answered so far (its RSS grows with them, not only with stored keys). */
  served: number;
}

/** Every server still running, so that any way out of the run stops it. */
export const running = new Set<Server>();
const origins = new Set<ChildProcess>();

/** Stops every process the run started: on SIGINT with `kill` (SIGKILL, no waiting). */
export async function stopAll(kill = false): Promise<void> {
  for (const child of origins) child.kill("SIGTERM");
  await Promise.allSettled([...running].map((dev) => (kill ? dev.kill() : dev.stop())));
  running.clear();
}

/** Forks bench/origin.ts with `latencyMs` and resolves once it listens. */
export async function startOrigin(latencyMs: number): Promise<Origin> {
  const child = fork(path.join(PROJECT_ROOT, "bench", "origin.ts"), [String(latencyMs)]);
  origins.add(child);
  const next = <T>() => new Promise<T>((resolve) => child.once("message", (m) => resolve(m as T)));
  const { port } = await Promise.race([
    next<{ port: number }>(),
    new Promise<never>((_, reject) => child.once("exit", () => reject(new Error("origin exited")))),
  ]);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    ask: (control) => {
      const answer = next<OriginState>();
      child.send(control);
      return answer;
    },
  };
}

/**
 * Starts the bare proxy (`config` "bare") or the gateway with `IDEMPOTENCY_SHARDS=shards` and
 * `vars`, in front of `originUrl`, with its state in `persistTo`. Under `wrangler dev` it runs
 * `configs` (the working tree's two Workers when omitted, or those of a tree exported by
 * `exportRef`); in workerd alone, `built` (the same configs, bundled by `buildWorkers`).
 */
export async function startTarget(options: {
  name: string;
  mode: Mode;
  config: ConfigName | "bare";
  shards: number | null;
  originUrl: string;
  persistTo: string;
  configs?: readonly string[] | undefined;
  built: readonly BuiltWorker[] | null;
  vars?: Record<string, string>;
  /** `taskset -c` list for the target's processes. */
  cpus?: string | undefined;
  /** Extra `workerd serve` arguments (workerd alone only). */
  extraArgs?: readonly string[];
}): Promise<Target> {
  const { name, mode, config, shards, originUrl, persistTo, cpus } = options;
  const vars: Record<string, string> = { ...options.vars, ORIGIN_URL: originUrl };
  if (shards !== null) vars.IDEMPOTENCY_SHARDS = String(shards);
  let dev: Server;
  if (mode === "workerd") {
    if (options.built === null) throw new Error(`${name}: no bundles built`);
    dev = await startWorkerdServe({
      workers: options.built,
      vars,
      stateDir: persistTo,
      ...(cpus !== undefined ? { cpus } : {}),
      ...(options.extraArgs !== undefined ? { extraArgs: options.extraArgs } : {}),
    });
  } else {
    const configs = config === "bare" ? [BARE_CONFIG] : options.configs;
    dev = await startWranglerDev({
      vars,
      persistTo,
      ...(configs !== undefined ? { config: configs } : {}),
      // The local trace collector records every request and storage call and costs about as
      // much CPU as the gateway itself: it is development tooling, not the product
      // (bench/README.md).
      env: { X_LOCAL_OBSERVABILITY: "false" },
      readyTimeoutMs: 120_000,
      ...(cpus !== undefined ? { cpus } : {}),
    });
  }
  running.add(dev);
  return { name, mode, config, shards, dev, served: 0 };
}

/** Stops a target and waits until its processes are gone. */
export async function stopTarget(target: Target): Promise<void> {
  await target.dev.stop();
  running.delete(target.dev);
}

/** Resident memory of a target's two workerd processes now. */
export function rss(target: Target): WorkerdRss {
  return workerdRss(target.dev.process.pid ?? -1);
}

/**
 * Exports `src/` and the wrangler configs as committed at `ref` into `dir`, so that the run
 * measures a fixed tree; returns the exported configs, relative to the project root: the gateway's
 * and, from the commit that gave the coordinator a Worker of its own, the coordinator Worker's
 * (before it, the gateway's Worker holds the class).
 */
export function exportRef(ref: string, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const configs = [GATEWAY_CONFIG, COORDINATOR_CONFIG].filter((config) => {
    try {
      execFileSync("git", ["cat-file", "-e", `${ref}:${config}`], {
        cwd: PROJECT_ROOT,
        stdio: "ignore",
      });
      return true;
    } catch {
      return false;
    }
  });
  const files = ["src", ...configs, "tsconfig.json", "package.json"];
  const tar = execFileSync("git", ["archive", "--format=tar", ref, ...files], {
    cwd: PROJECT_ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  return configs.map((config) => path.relative(PROJECT_ROOT, path.join(dir, config)));
}

/** One answer to a request sent with `fetch` (outside autocannon). */
export interface Answer {
  status: number;
  replayed: boolean;
  body: string;
}

/** Sends {@link REQUEST} with `key` to a target. */
export async function post(target: Target, key: string, signal?: AbortSignal): Promise<Answer> {
  const response = await fetch(target.dev.url + REQUEST.path, {
    method: REQUEST.method,
    headers: { ...REQUEST.headers, "idempotency-key": key },
    body: REQUEST.body,
    signal: signal ?? AbortSignal.timeout(30_000),
  });
  const replayed = response.headers.get("idempotent-replayed") === "true";
  return { status: response.status, replayed, body: await response.text() };
}

/**
 * Sends one key twice: the gateway must forward it once and replay it, the bare proxy forward
 * it twice. Otherwise the numbers of the run would mean nothing, so it throws.
 */
export async function sanityCheck(target: Target, origin: Origin): Promise<void> {
  const key = `sanity-${randomUUID()}`;
  const first = await post(target, key);
  const second = await post(target, key);
  const calls = (await origin.ask({ count: key })).count;
  const problems: string[] = [];
  if (first.status !== 201) problems.push(`first answer ${first.status}: ${first.body}`);
  if (target.shards === null) {
    if (calls !== 2) problems.push(`origin calls ${calls}, expected 2`);
  } else {
    if (second.status !== 201 || !second.replayed) {
      problems.push(`second answer ${second.status}, replayed=${second.replayed}`);
    }
    if (second.body !== first.body) problems.push("the replayed body differs");
    if (calls !== 1) problems.push(`origin calls ${calls}, expected 1`);
  }
  if (problems.length > 0) {
    const tail = target.dev.output().split("\n").slice(-20).join("\n");
    throw new Error(`${target.name} fails the sanity check: ${problems.join("; ")}\n${tail}`);
  }
}

/** Stores each key through a gateway (16 requests at a time); every answer must be 201. */
export async function prime(target: Target, keys: readonly string[]): Promise<void> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < keys.length) {
      if ((await post(target, keys[next++] as string)).status !== 201) failed++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  if (failed > 0) throw new Error(`${target.name}: ${failed} of ${keys.length} warm keys failed`);
}
