import type { RecordView } from "./protocol";
import type { RecordState } from "../core/record";
import type { RecordPosition } from "../core/record-page";

/**
 * The coordinator's RPC surface for operators who reconcile records without the customer's key
 * or credential (docs/operations.md, "Reconciling an unknown outcome"): list records, find one by its key
 * hash, resolve an unknown one. Plain data, grown only by optional fields, like `protocol.ts`.
 */

/** One record as listed: what an operator needs to reconcile it, never a body or a header. */
export interface RecordSummary {
  /** The key identity (the Worker shows only its key hash). */
  identity: string;
  /**
   * The key hash its claim was logged with; `null` for records claimed without one (older
   * versions, or no `KEY_HASH_SECRET`). Absent from older objects.
   */
  keyHash?: string | null;
  state: RecordState;
  /** The request's method and path (no query): `null` for records claimed before they were kept. */
  method: string | null;
  path: string | null;
  createdAt: number;
  expiresAt: number;
  /** The stored answer's status, for `completed` records. */
  status: number | null;
  /** Why the outcome is unknown (kept after an operator resolves the record). */
  detail: string | null;
}

/** One object's share of a page: its newest live records after `after`. */
export interface PageQuery {
  /** Only records in this state; `null`: every state. */
  state: RecordState | null;
  /** Only records after this position in the listing order; `null`: from the newest. */
  after: RecordPosition | null;
  /** At most this many records. */
  limit: number;
}

/** What became of a resolve. */
export type ResolveResult =
  /** The record now holds the operator's answer, exactly as if the origin had sent it. */
  | { kind: "resolved"; view: RecordView }
  /** No live record. */
  | { kind: "absent" }
  /** Only an `unknown` record can be resolved; this one is in another state. */
  | { kind: "not-unknown"; state: Exclude<RecordState, "unknown"> };
