import type { ProbeResult } from "../coordinator/origin-probe";
import type { Outcome } from "../coordinator/protocol";

/** The outcome of a request the Worker answers itself, without a reply from the coordinator. */
export type WorkerOutcome =
  | "invalid"
  | "too-large"
  | "missing-key"
  /**
   * A covered request without a key where keys are optional (`IDEMPOTENCY_KEY_REQUIRED=false`):
   * proxied untouched, with no idempotency (docs/adr/0013-keyless-writes-pass-by-default.md).
   */
  | "keyless"
  | "malformed-body"
  | "missing-scope"
  /** The coordinator did not answer within its deadline (docs/security.md, "Bounds"). */
  | "coordinator-timeout";

/** The one structured line logged per covered request (docs/operations.md, "Operating it"). */
export interface RequestLog {
  outcome: Outcome | WorkerOutcome;
  /** Which bound a `busy` outcome met (`gateway-busy`). */
  reason?: string;
  /** The first 32 hex digits of the key identity (a hash of scope values and key), if known. */
  keyHash?: string;
  method: string;
  status: number;
  originStatus?: number;
  gatewayMs: number;
  originMs?: number;
  /** Answered from this isolate's memory, without the coordinator (docs/adr/0008). */
  edge?: true;
  /** What the reachability probe sent before this request's origin call showed (docs/adr/0005). */
  probe?: ProbeResult;
  /** How long that probe took. */
  probeMs?: number;
}

/**
 * Writes the line as JSON. It never carries a raw key, scope value, credential or body: only the
 * fields above, all derived.
 *
 * @example
 * logRequest({ outcome: "replayed", keyHash: "3f…", method: "POST", status: 201, gatewayMs: 1 });
 */
export function logRequest(line: RequestLog): void {
  console.log(JSON.stringify({ event: "idempotency", ...line }));
}
