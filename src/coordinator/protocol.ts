import type { Settings } from "../config/settings";
import type { OriginRequest } from "../core/origin-request";
import type { MappingReport } from "../core/mapping";
import type { GatewayProblem } from "../core/problems";
import type { RecordState } from "../core/record";
import type { StoredResponse } from "../core/stored-response";
import type { ProbeResult } from "./origin-probe";

/**
 * The typed RPC surface between the Worker and the coordinator object. It is plain data, and it
 * only ever grows new optional fields: during a rolling deploy a new Worker may call an old
 * object and the other way round (Cloudflare docs, "Gradual deployments": Durable Objects are not
 * versioned with the Worker that calls them).
 */

/** The settings the Worker applies itself, before the coordinator is called. */
type WorkerOnly = "methods" | "keyRequired" | "maxBodyBytes";

/**
 * The rules the coordinator applies to one request: the request's settings (its route's, else
 * the global ones) but those the Worker has already applied, plus the origin's base URL and
 * `IDEMPOTENCY_PROBE_PATH` for the reachability probe (docs/adr/0005).
 */
export type Policy = Omit<Settings, WorkerOnly> & {
  readonly originUrl: string;
  /**
   * The probe's path under `originUrl`; `null`: never probe. Absent from Workers older than the
   * setting, which probed `/`.
   */
  readonly probePath?: string | null;
};

/**
 * The policy for a request's settings. A new per-route setting reaches the coordinator with no
 * change here.
 *
 * @param probePath - `IDEMPOTENCY_PROBE_PATH` (default `/`; `null`: off)
 */
export function policyOf(
  settings: Settings,
  originUrl: string,
  probePath: string | null = "/",
): Policy {
  const { methods, keyRequired, maxBodyBytes, ...policy } = settings;
  return { ...policy, originUrl, probePath };
}

/** One covered request, already validated, fingerprinted and scoped. */
export interface ExecuteCommand {
  /** SHA-256 (hex) of scope values and key: the key's name everywhere. */
  identity: string;
  /**
   * The keyed key hash the Worker logs for this key (src/core/key-hash.ts), kept with a record
   * it claims so that an operator finds the record by it. Absent without `KEY_HASH_SECRET`, and
   * from older Workers.
   */
  keyHash?: string;
  /** SHA-256 (hex) of method, path, query and body. */
  fingerprint: string;
  request: OriginRequest;
  policy: Policy;
  /**
   * The request's path, without the query: kept with the record so that an operator can tell
   * which request an unknown outcome belongs to (docs/operations.md, "Reconciling an unknown outcome").
   * Absent from Workers older than this field.
   */
  path?: string;
  /**
   * During a change of the key mapping (docs/adr/0006): the key's object under the new mapping.
   * This object then arbitrates: a key it holds stays here; any other key is sent there.
   */
  next?: string;
  /**
   * During a change of the scope headers (src/core/scope-change.ts): the key's identity under the
   * new list and its object. `identity` is then the old one, whose object holds any record the key
   * has; once the change has drained, a key it holds no record of is sent to this one.
   */
  renamed?: { identity: string; address: string };
  /**
   * The Worker's key mapping, which the object checks against the registry's verdict before it
   * claims a key (docs/adr/0009). Absent from Workers that asked the registry themselves.
   */
  mapping?: MappingReport;
  /**
   * `IDEMPOTENCY_STORAGE_LIMIT_BYTES`: the database size past which the object takes no new
   * key. Absent from older Workers: the default applies.
   */
  storageLimitBytes?: number;
}

/** What happened to a request, for logs and metrics. */
export type Outcome =
  | "forwarded"
  /**
   * An unknown outcome forwarded again under `IDEMPOTENCY_UNKNOWN_OUTCOME=reforward`, and
   * answered by the origin (docs/adr/0011): stored, or its "still in progress" `409`.
   */
  | "reforwarded"
  | "replayed"
  | "coalesced"
  | "rejected"
  | "mismatch"
  | "released"
  | "unreachable"
  | "outcome-unknown"
  | "moved"
  /** `503 gateway-busy`: a bound of the key's object was reached; nothing was claimed. */
  | "busy"
  /**
   * `409 request-in-progress`: the key was purged while a Worker may still replay its old answer
   * (docs/adr/0008); nothing was claimed, and a retry after `Retry-After` is forwarded.
   */
  | "held"
  /** The registry refused the Worker's key mapping: nothing was claimed. */
  | "misconfigured"
  /** The request could not be built, so nothing was sent: the key was released. */
  | "unsent";

/** The coordinator's reply to `execute`: where the key lives, or the final reply, streamed. */
export type Reply = Streamed<FinalReply> | Moved;

/**
 * A reply as it crosses the RPC boundary: the body is a stream over the object's one copy of the
 * answer, so duplicates waiting on one key, and concurrent replays, do not each serialize (and
 * hold) a copy of it (docs/security.md, "Reliability and security": bounds).
 */
export type Streamed<T extends FinalReply> = T extends { kind: "response" }
  ? Omit<T, "response"> & { response: Omit<StoredResponse, "body"> & { body: ReplyBody } }
  : T;

/** A body as sent over RPC: a byte stream (this version), or bytes (earlier versions). */
export type ReplyBody = ReadableStream<Uint8Array> | Uint8Array;

/** The key lives in another object (a mapping migration): send the command there. */
export interface Moved {
  kind: "moved";
  outcome: "moved";
  replayed: false;
  /** The object's name in the namespace. */
  to: string;
  /** The identity to send there, when it is another (a change of the scope headers). */
  identity?: string;
}

/** What the reachability probe sent before this request's origin call showed (docs/adr/0005). */
export interface ProbeReport {
  result: ProbeResult;
  /** How long it took (ms). */
  ms: number;
}

/** A response to send, or a problem. */
export type FinalReply =
  | {
      kind: "response";
      outcome: Outcome;
      /** Set when this request's origin call was preceded by a probe: counted and logged. */
      probe?: ProbeReport;
      /** Adds `Idempotent-Replayed: true`: this answer was not produced by forwarding this request. */
      replayed: boolean;
      response: StoredResponse;
      originStatus?: number;
      originMs?: number;
      /**
       * Set only when the answer is stored as a completed record: its expiry (ms). A Worker may
       * then replay it for a while without asking again (docs/adr/0008).
       */
      storedUntil?: number;
    }
  | {
      kind: "problem";
      outcome: Outcome;
      probe?: ProbeReport;
      replayed: boolean;
      problem: GatewayProblem;
      originMs?: number;
    };

/** What an operator may see of a record: never the body. */
export interface RecordView {
  state: RecordState;
  fingerprint: string;
  /** The request's method and path (no query); `null` for records claimed before they were kept. */
  method?: string | null;
  path?: string | null;
  createdAt: number;
  expiresAt: number;
  status: number | null;
  bodyBytes: number | null;
  /** Why the outcome is unknown, for `unknown` records (and for records an operator resolved). */
  detail: string | null;
  /** When an operator resolved the record (ms since epoch); `null` if the origin answered. */
  resolvedAt?: number | null;
  /** When the record was last forwarded again after an unknown outcome (docs/adr/0011). */
  reforwardedAt?: number | null;
  /** The key hash its claim was logged with; `null` if it has none (`RecordSummary.keyHash`). */
  keyHash?: string | null;
  /** The stored answer, only when asked for (`includeResponse`) and completed. */
  response?: StoredResponse;
}
