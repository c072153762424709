import { execFileSync } from "node:child_process";
import fs from "node:fs";

/**
 * What the processes under test cost: CPU time and resident memory read from /proc (Linux).
 * A `wrangler dev` runs in its own process group (scripts/wrangler-dev.ts), so its workerd
 * children are found by process group id.
 */

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  pid: number;
  comm: string;
  pgrp: number;
  /** utime + stime, in milliseconds. */
  cpuMs: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp …": comm may hold spaces or parentheses, so split after the last ")".
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const comm = text.slice(open + 1, close);
  const rest = text
    .slice(close + 2)
    .split(" ")
    .map((field) => Number(field));
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const pgrp = rest[2] ?? -1;
  const utime = rest[11] ?? 0;
  const stime = rest[12] ?? 0;
  return { pid, comm, pgrp, cpuMs: ((utime + stime) * 1000) / CLOCK_TICKS };
}

function allPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((name) => Number(name));
}

/** The processes of process group `pgid`. */
export function groupProcesses(pgid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (stat !== null && stat.pgrp === pgid) out.push(stat);
  }
  return out;
}

/** CPU milliseconds used so far by a process group, by kind of process. */
export interface GroupCpu {
  workerdMs: number;
  /** wrangler's own Node processes (and anything else in the group). */
  otherMs: number;
}

export function groupCpu(pgid: number): GroupCpu {
  let workerdMs = 0;
  let otherMs = 0;
  for (const proc of groupProcesses(pgid)) {
    if (proc.comm === "workerd") workerdMs += proc.cpuMs;
    else otherMs += proc.cpuMs;
  }
  return { workerdMs, otherMs };
}

/** CPU milliseconds used so far by one process (0 if it is gone). */
export function processCpuMs(pid: number): number {
  return readStat(pid)?.cpuMs ?? 0;
}

/** VmRSS of a process in KiB (0 if it is gone). */
function rssKiB(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] !== undefined ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Resident memory of the workerd processes of a `wrangler dev`, in MiB. wrangler runs two:
 * the *proxy* (wrangler's own entry Worker, listening on the public port) and the *worker*
 * (the Worker under test and its Durable Objects).
 */
export interface WorkerdRss {
  workerMiB: number;
  proxyMiB: number;
  totalMiB: number;
}

export function workerdRss(pgid: number, publicPort: number): WorkerdRss {
  let worker = 0;
  let proxy = 0;
  for (const proc of groupProcesses(pgid)) {
    if (proc.comm !== "workerd") continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${proc.pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    const kib = rssKiB(proc.pid);
    if (cmdline.includes(`--socket-addr=entry=127.0.0.1:${publicPort}\0`)) proxy += kib;
    else worker += kib;
  }
  const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
  return { workerMiB: mib(worker), proxyMiB: mib(proxy), totalMiB: mib(worker + proxy) };
}

/** Whole-machine CPU time from /proc/stat, in milliseconds summed over all cores. */
export function machineCpu(): { busyMs: number; totalMs: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const fields = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map((field) => Number(field));
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busyMs: ((total - idle) * 1000) / CLOCK_TICKS, totalMs: (total * 1000) / CLOCK_TICKS };
}

/** A point from which to measure how busy the machine was, and how much of that was not ours. */
export interface CpuMark {
  machine: { busyMs: number; totalMs: number };
  oursMs: number;
}

/**
 * Watches for load that is not the benchmark's own (a test run, a build, another benchmark on
 * the same machine): `ours` says how much CPU the processes of the run have used so far.
 */
export function cpuMeter(ours: () => number) {
  return {
    mark: (): CpuMark => ({ machine: machineCpu(), oursMs: ours() }),
    /** Busy share of the whole machine since `mark`, in percent: all of it, and not ours. */
    since(mark: CpuMark): { busyPct: number; foreignPct: number } {
      const now = machineCpu();
      const totalMs = Math.max(1, now.totalMs - mark.machine.totalMs);
      const busyMs = now.busyMs - mark.machine.busyMs;
      const foreignMs = Math.max(0, busyMs - (ours() - mark.oursMs));
      return {
        busyPct: Math.round((100 * busyMs) / totalMs),
        foreignPct: Math.round((100 * foreignMs) / totalMs),
      };
    },
  };
}
