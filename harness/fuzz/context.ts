import { randomBytes } from "node:crypto";
import type { TestOrigin } from "../test-origin.ts";
import { field } from "./invariants.ts";
import { exchange, type RawAnswer } from "./raw-http.ts";

/**
 * What every fuzz case shares: the gateway it talks to, a fresh nonce per execution, and one way
 * to send a request and learn whether the origin saw it.
 */

/** What the runner needs: the gateway's port, the origin's log, and per-request patience. */
export interface FuzzContext {
  port: number;
  origin: TestOrigin;
  problems: Map<string, number>;
  /** How long one request may take before the case fails (nothing may hang). */
  timeoutMs: number;
  /** Counts what the cases exercised, by label (`FuzzReport.tally`). */
  tally?: (label: string) => void;
}

const RUN = randomBytes(3).toString("hex").slice(0, 4);
let executions = 0;

/** A fresh nonce: every valid key starts with one, so no two executions share a record. */
export function nextNonce(): string {
  executions += 1;
  return `fz${RUN}${executions.toString(36).padStart(6, "0")}-`;
}

/** One request on the wire, its final answer, and how often the origin saw it. */
export interface Sent {
  answer: RawAnswer | null;
  /** Why there is no answer, if there is none. */
  missing?: string;
  /** The connection failed (a reset, or writing to a closed one), rather than closing cleanly. */
  reset?: boolean;
  seen: number;
}

/** How long to wait for a request `wrangler dev` may never answer (`BuiltRequest.mayNotAnswer`). */
export const SHORT_WAIT_MS = 1_500;

/** Sends `bytes`, waits for the final answer, and counts the origin's records of `marker`. */
export async function send(
  ctx: FuzzContext,
  bytes: Uint8Array,
  method: string,
  marker: string,
  timeoutMs = ctx.timeoutMs,
): Promise<Sent> {
  const result = await exchange(ctx.port, bytes, { timeoutMs, method, halfClose: true });
  // Interim answers (100 Continue) come first; the final one is what the client acts on.
  const answer = result.answers.find((a) => a.status >= 200) ?? null;
  const seen = ctx.origin.requests(marker).length;
  if (answer !== null) return { answer, seen };
  const truncated =
    result.truncatedStatus === undefined ? "" : `, a ${result.truncatedStatus} cut short`;
  const missing = result.timedOut
    ? `no answer within ${timeoutMs} ms${truncated}`
    : `no answer (${result.error ?? "connection closed"}${truncated}, ${result.leftover} bytes unparsed)`;
  return { answer, missing, seen, ...(result.error === undefined ? {} : { reset: true }) };
}

/** An answer in one line, for a violation. */
export function describeAnswer(answer: RawAnswer): string {
  const body = Buffer.from(answer.body).toString("utf8").slice(0, 160);
  return `${answer.status} ${field(answer, "content-type") ?? "(no type)"} ${JSON.stringify(body)}`;
}
