import type { GatewayProblem } from "../core/problems";
import type { OriginRequest } from "./origin-call";
import type { StoredResponse } from "../core/stored-response";
import type { RecordState } from "../core/record";

/**
 * The typed RPC surface between the Worker and the coordinator object. It is plain data, and it
 * only ever grows new optional fields: during a rolling deploy a new Worker may call an old
 * object and the other way round (platform-notes §1.5).
 */

/** The rules the coordinator applies to one request, resolved by the Worker from its config. */
export interface Policy {
  ttlSeconds: number;
  concurrency: "wait" | "reject";
  waitMs: number;
  originTimeoutMs: number;
  retryStatuses: readonly number[];
  maxResponseBytes: number;
  /** The origin's base URL, for the reachability probe. */
  originUrl: string;
}

/** One covered request, already validated, fingerprinted and scoped. */
export interface ExecuteCommand {
  /** SHA-256 (hex) of scope values and key: the key's name everywhere. */
  identity: string;
  /** SHA-256 (hex) of method, path, query and body. */
  fingerprint: string;
  request: OriginRequest;
  policy: Policy;
}

/** What happened to a request, for logs and metrics. */
export type Outcome =
  | "forwarded"
  | "replayed"
  | "coalesced"
  | "rejected"
  | "mismatch"
  | "released"
  | "unreachable"
  | "outcome-unknown";

/** The coordinator's answer: a response to send, or a problem. */
export type Answer =
  | {
      kind: "response";
      outcome: Outcome;
      /** Adds `Idempotent-Replayed: true`: this answer was not produced by forwarding this request. */
      replayed: boolean;
      response: StoredResponse;
      originStatus?: number;
      originMs?: number;
    }
  | {
      kind: "problem";
      outcome: Outcome;
      replayed: boolean;
      problem: GatewayProblem;
      originMs?: number;
    };

/** What an operator may see of a record: never the body. */
export interface RecordView {
  state: RecordState;
  fingerprint: string;
  createdAt: number;
  expiresAt: number;
  status: number | null;
  bodyBytes: number | null;
  /** Why the outcome is unknown, for `unknown` records. */
  detail: string | null;
  /** The stored answer, only when asked for (`includeResponse`) and completed. */
  response?: StoredResponse;
}
