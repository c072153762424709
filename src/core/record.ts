/**
 * The life of one key's record, as pure decisions (docs/adr/0003). The coordinator reads the
 * record, asks `decide`, and performs what it answers; no I/O or clock here — `now` is passed in.
 *
 *   (none) ──claim──▶ in_flight ──origin answered──▶ completed ──TTL──▶ (none)
 *                        │  └──retry status / unreachable──▶ (none: key released)
 *                        └──timeout / broken / crash + lease──▶ unknown ──TTL──▶ (none)
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
  | { kind: "lease-expired" };

/**
 * Decides what a request with `fingerprint` gets, given the key's `record` (or none).
 *
 * @param inMemory - whether this instance holds the key's in-flight promise
 * @example
 * decide(null, "ab…", Date.now(), false); // { kind: "forward" }
 */
export function decide(
  record: KeyRecord | null,
  fingerprint: string,
  now: number,
  inMemory: boolean,
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
      return { kind: "lease-expired" };
  }
}

/**
 * Extra time past the origin timeout before an orphaned in-flight record counts as failed:
 * covers reading the body and writing the record after the origin answered.
 */
export const LEASE_GRACE_MS = 5_000;

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
