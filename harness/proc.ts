import { execFileSync } from "node:child_process";
import fs from "node:fs";

/**
 * The one reader of Linux `/proc` for the bench and the soak: CPU time, memory and open files of
 * the processes under test, and how busy the whole machine is (proc(5)). `startWranglerDev` puts
 * each `wrangler dev` in a process group of its own, so its workerd children are found by process
 * group id. On a system without `/proc` every reading is empty or zero.
 */

/** Clock ticks per second: the unit of the CPU times in /proc (`getconf CLK_TCK`). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** One process, from `/proc/<pid>/stat`. */
export interface ProcStat {
  pid: number;
  /** The executable's name, e.g. "workerd" or "node". */
  comm: string;
  pgrp: number;
  /** utime + stime, in milliseconds. */
  cpuMs: number;
}

/** Reads `/proc/<pid>/stat`; null once the process is gone. */
export function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp …": comm may hold spaces or parentheses, so split after the last ")".
  const close = text.lastIndexOf(")");
  const fields = text
    .slice(close + 2)
    .split(" ")
    .map(Number);
  // fields[0] is field 3 (state), so field n is fields[n - 3]: pgrp is 5, utime 14, stime 15.
  const ticks = (fields[11] ?? 0) + (fields[12] ?? 0);
  return {
    pid,
    comm: text.slice(text.indexOf("(") + 1, close),
    pgrp: fields[2] ?? -1,
    cpuMs: (ticks * 1000) / CLOCK_TICKS,
  };
}

/** The processes of process group `pgid` (a `wrangler dev` and its workerd children). */
export function groupProcesses(pgid: number): ProcStat[] {
  let names: string[];
  try {
    names = fs.readdirSync("/proc");
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat !== null && stat.pgrp === pgid) out.push(stat);
  }
  return out;
}

/**
 * CPU milliseconds a process group has used so far: its workerd processes (split into wrangler's
 * proxy and the one that runs the Worker and its Durable Objects, see `workerdRss`), and the
 * others (wrangler's Node process).
 */
export function groupCpu(pgid: number): {
  workerdMs: number;
  proxyMs: number;
  workerMs: number;
  otherMs: number;
} {
  let proxyMs = 0;
  let workerMs = 0;
  let otherMs = 0;
  const procs = groupProcesses(pgid);
  const isWorker = workerTest(procs);
  for (const proc of procs) {
    if (proc.comm !== "workerd") otherMs += proc.cpuMs;
    else if (isWorker(proc.pid)) workerMs += proc.cpuMs;
    else proxyMs += proc.cpuMs;
  }
  return { workerdMs: proxyMs + workerMs, proxyMs, workerMs, otherMs };
}

/**
 * Which workerd processes of a group run the Worker. Under `wrangler dev` it is the one started
 * with `--inspector-addr`, the other is wrangler's proxy; a group with no such process is a
 * `workerd serve` of its own (`harness/workerd-serve.ts`), which has no proxy.
 */
function workerTest(procs: readonly ProcStat[]): (pid: number) => boolean {
  const workerd = procs.filter((proc) => proc.comm === "workerd").map((proc) => proc.pid);
  const inspected = new Set(workerd.filter(isWorkerProcess));
  return inspected.size === 0 ? () => true : (pid) => inspected.has(pid);
}

/** Whether a workerd process runs the Worker (started with `--inspector-addr`), not the proxy. */
function isWorkerProcess(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("\0--inspector-addr=");
  } catch {
    return false; // gone since the listing
  }
}

/** Resident memory, threads and open file descriptors of one process; null once it is gone. */
export function readMemory(pid: number): { rssKiB: number; threads: number; fds: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return {
      rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
      fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    };
  } catch {
    return null;
  }
}

/**
 * Resident memory (VmRSS) of the two workerd processes of a `wrangler dev`, in MiB: the *proxy*
 * is wrangler's own entry Worker on the public port, the *worker* runs the Worker under test and
 * its Durable Objects.
 */
export interface WorkerdRss {
  workerMiB: number;
  proxyMiB: number;
  totalMiB: number;
}

/**
 * Reads {@link WorkerdRss} for the `wrangler dev` of process group `pgid`. Both workerd processes
 * are started with port 0, so the public port does not tell them apart; only the worker's is
 * started with `--inspector-addr` (wrangler reads the Worker's console output over it).
 */
export function workerdRss(pgid: number): WorkerdRss {
  let worker = 0;
  let proxy = 0;
  const procs = groupProcesses(pgid);
  const isWorker = workerTest(procs);
  for (const proc of procs) {
    if (proc.comm !== "workerd") continue;
    const kib = readMemory(proc.pid)?.rssKiB ?? 0;
    if (isWorker(proc.pid)) worker += kib;
    else proxy += kib;
  }
  const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
  return { workerMiB: mib(worker), proxyMiB: mib(proxy), totalMiB: mib(worker + proxy) };
}

/** Whole-machine CPU time from `/proc/stat`, in milliseconds summed over all cores. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  // "cpu user nice system idle iowait irq softirq steal …"
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busyMs: ((total - idle) * 1000) / CLOCK_TICKS, totalMs: (total * 1000) / CLOCK_TICKS };
}
