/**
 * The life of one key's record, as pure decisions (docs/adr/0003). The coordinator reads the
 * record, asks `decide`, and performs what it answers; no I/O or clock here — `now` is passed in.
 *
 *   (none) ──claim──▶ in_flight ──origin answered──▶ completed ──TTL──▶ (none)
 *                        │  └──retry status / unreachable──▶ (none: key released)
 *                        └──timeout / broken / crash + lease──▶ unknown ──TTL──▶ (none)
 *                        ▲                                         │
 *                        └──── re-claim (`reforward`, inside the ──┘
 *                              origin's key window: docs/adr/0011)
 */

/** A record's state: being forwarded, answered and stored, or failed closed. */
export type RecordState = "in_flight" | "completed" | "unknown";

/** The metadata kept per key (the stored response body lives beside it). */
export interface KeyRecord {
  fingerprint: string;
  state: RecordState;
  createdAt: number;
  expiresAt: number;
  /** Until when an in-flight record may still be answered by the request that claimed it. */
  leaseUntil: number;
}

/** What the coordinator must do with a request, given the key's record. */
export type Decision =
  /** No live record: claim the key and forward the request. */
  | { kind: "forward" }
  /** The key was used for a different request. */
  | { kind: "mismatch" }
  /** The first request is in flight in this instance: wait for it (or reject). */
  | { kind: "join" }
  /** The stored answer exists: replay it. */
  | { kind: "replay" }
  /** The outcome is unknown and stays so until the TTL or a purge. */
  | { kind: "unknown" }
  /** In flight in another (dead or dying) instance, lease still running: come back later. */
  | { kind: "in-progress"; retryAfterSeconds: number }
  /** In flight in a dead instance and its lease is over: the outcome is now unknown. */
  | { kind: "lease-expired" }
  /**
   * The outcome is unknown (or its instance is gone, lease over), and the origin still honours
   * the key: re-claim the record and forward this request again, with the same key, so that the
   * origin's own deduplication settles it (docs/adr/0011).
   */
  | { kind: "reforward" };

/**
 * How a route settles an outcome it could not see (`IDEMPOTENCY_UNKNOWN_OUTCOME=reforward`): the
 * origin deduplicates on the forwarded key for `originKeyMs` after it first saw it. `null`: fail
 * closed.
 */
export interface Reforward {
  /** `IDEMPOTENCY_ORIGIN_KEY_SECONDS`, in ms. */
  originKeyMs: number;
  /** `IDEMPOTENCY_ORIGIN_TIMEOUT_MS`: how long the re-forward itself may take. */
  originTimeoutMs: number;
}

/**
 * Whether a record created at `record.createdAt` may be forwarded again at `now`. The whole call
 * must fit inside the origin's key window, counted from the claim (before the origin first saw
 * the key, so never later than the origin's own count), and its lease inside the record's TTL
 * (no record may expire while its call may still run). Past either, a re-forward could reach an
 * origin that has forgotten the key and charge twice: the record fails closed instead.
 *
 * @example
 * mayReforward(record, Date.now(), { originKeyMs: 86_400_000, originTimeoutMs: 30_000 });
 */
export function mayReforward(record: KeyRecord, now: number, rule: Reforward): boolean {
  return (
    now + rule.originTimeoutMs <= record.createdAt + rule.originKeyMs &&
    now + rule.originTimeoutMs + LEASE_GRACE_MS <= record.expiresAt
  );
}

/**
 * Decides what a request with `fingerprint` gets, given the key's `record` (or none).
 *
 * @param inMemory - whether this instance holds the key's in-flight promise
 * @param reforward - the route's rule for unknown outcomes; `null` (default): fail closed
 * @example
 * decide(null, "ab…", Date.now(), false); // { kind: "forward" }
 */
export function decide(
  record: KeyRecord | null,
  fingerprint: string,
  now: number,
  inMemory: boolean,
  reforward: Reforward | null = null,
): Decision {
  if (record === null) return { kind: "forward" };
  // Expiry is checked on every read (README, "Outcomes"): the alarm is only housekeeping
  // and may run late. A record still being forwarded here is never expired under its owner.
  if (record.expiresAt <= now && !inMemory) return { kind: "forward" };
  if (record.fingerprint !== fingerprint) return { kind: "mismatch" };
  if (inMemory) return { kind: "join" };
  switch (record.state) {
    case "completed":
      return { kind: "replay" };
    case "unknown":
      if (reforward !== null && mayReforward(record, now, reforward)) return { kind: "reforward" };
      return { kind: "unknown" };
    case "in_flight":
      // Memory lost (crash, eviction, redeploy) while the origin call was pending: the old
      // instance may still be finishing inside its shutdown grace period until the lease ends.
      if (record.leaseUntil > now) {
        return {
          kind: "in-progress",
          retryAfterSeconds: Math.max(1, Math.ceil((record.leaseUntil - now) / 1000)),
        };
      }
      // No instance holds the call any more and its lease is over, so it can no longer reach
      // the origin: the same as an unknown outcome.
      if (reforward !== null && mayReforward(record, now, reforward)) return { kind: "reforward" };
      return { kind: "lease-expired" };
  }
}

/**
 * Extra time past the origin timeout before an orphaned in-flight record counts as failed:
 * covers reading the body and writing the record after the origin answered.
 */
export const LEASE_GRACE_MS = 5_000;

/**
 * The lease of a re-forward (docs/adr/0011): the record is in flight again, for as long as a
 * first call, and keeps its creation (the origin's window counts from the first attempt) and
 * expiry.
 *
 * @example
 * reclaim(record, Date.now(), 30_000);
 */
export function reclaim(record: KeyRecord, now: number, originTimeoutMs: number): KeyRecord {
  return { ...record, state: "in_flight", leaseUntil: now + originTimeoutMs + LEASE_GRACE_MS };
}

/**
 * The record written, durably, before the origin sees the request (docs/adr/0001).
 *
 * @example
 * claim("ab…", Date.now(), 86_400_000, 30_000);
 */
export function claim(
  fingerprint: string,
  now: number,
  ttlMs: number,
  originTimeoutMs: number,
): KeyRecord {
  return {
    fingerprint,
    state: "in_flight",
    createdAt: now,
    expiresAt: now + ttlMs,
    leaseUntil: now + originTimeoutMs + LEASE_GRACE_MS,
  };
}
