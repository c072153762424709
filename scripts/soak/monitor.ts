import fs from "node:fs";

/**
 * Resource readings of the gateway's workerd processes (Linux /proc; empty elsewhere), for the
 * soak's progress lines and report: resident memory, open file descriptors and threads. A
 * `wrangler dev` runs in its own process group (scripts/wrangler-dev.ts), so its workerd is found
 * by process group id.
 */

export interface WorkerdReading {
  pid: number;
  rssMiB: number;
  fds: number;
  threads: number;
}

function processGroup(pid: number): { comm: string; pgrp: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    // After ") ": state ppid pgrp …
    const pgrp = Number(text.slice(close + 2).split(" ")[2]);
    return { comm, pgrp };
  } catch {
    return null;
  }
}

/** The workerd processes of process group `pgid`, with their resources now. */
export function readWorkerd(pgid: number): WorkerdReading[] {
  let pids: number[];
  try {
    pids = fs
      .readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return [];
  }
  const out: WorkerdReading[] = [];
  for (const pid of pids) {
    const stat = processGroup(pid);
    if (stat === null || stat.pgrp !== pgid || stat.comm !== "workerd") continue;
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
      out.push({ pid, rssMiB: Math.round(rssKiB / 1024), fds, threads });
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/** "workerd 123: 512 MiB, 4100 fds, 12 threads" for each process, or "". */
export function describeWorkerd(readings: readonly WorkerdReading[]): string {
  return readings
    .map((r) => `workerd ${r.pid}: ${r.rssMiB} MiB, ${r.fds} fds, ${r.threads} threads`)
    .join("; ");
}
