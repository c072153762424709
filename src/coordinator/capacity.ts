/**
 * The bounds of one coordinator object that answer `503 gateway-busy` (docs/security.md, "Bounds"), as
 * pure functions: storage against the platform's limit per object, and the jittered
 * `Retry-After` of every busy answer.
 */

/**
 * A SQLite-backed Durable Object stores at most 10 GB (Cloudflare docs, "Durable Objects:
 * Limits"). Local development does not enforce it, so the gateway watches the size itself.
 */
export const OBJECT_STORAGE_LIMIT_BYTES = 10_000_000_000;

/**
 * The default size past which an object takes no new key (`IDEMPOTENCY_STORAGE_LIMIT_BYTES`).
 * The last gigabyte is left to the keys already in flight, whose answers (up to 16 MiB each)
 * must still be stored when they come back.
 */
export const STORAGE_REFUSE_BYTES = 9_000_000_000;

/**
 * The share of the refusal size from which an object logs `storage-high` (at most once a
 * minute): time to add shards (ADR 0006) or lower the TTL, well before keys are refused.
 */
export const STORAGE_WARN_SHARE = 0.8;

/**
 * Where an object's database size stands against its refusal size.
 *
 * @example
 * storageStanding(7.5e9, 9e9); // "high"
 */
export function storageStanding(bytes: number, refuseBytes: number): "ok" | "high" | "full" {
  if (bytes >= refuseBytes) return "full";
  return bytes >= refuseBytes * STORAGE_WARN_SHARE ? "high" : "ok";
}

/**
 * Whether a storage call failed because the database reached its size limit (SQLite's
 * `SQLITE_FULL`, "database or disk is full"), as opposed to any other failure.
 */
export function isStorageFull(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /SQLITE_FULL|database or disk is full/i.test(message);
}

/** The range of a busy answer's `Retry-After`, in seconds. */
export const BUSY_RETRY_AFTER = Object.freeze({ min: 1, max: 5 });

/**
 * A `Retry-After` drawn uniformly from `BUSY_RETRY_AFTER`: clients told the same fixed delay
 * retry in step and meet the same bound again; spread out, they drain it.
 *
 * @param random - a number in [0, 1), e.g. `Math.random()`
 * @example
 * busyRetryAfter(0.5); // 3
 */
export function busyRetryAfter(random: number): number {
  const { min, max } = BUSY_RETRY_AFTER;
  return min + Math.min(max - min, Math.floor(random * (max - min + 1)));
}
