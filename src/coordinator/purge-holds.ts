/**
 * Purge holds: a purged *completed* key that no request may claim again while a Worker could
 * still replay its old answer from memory (docs/adr/0008).
 *
 * A Worker isolate that has seen a completed answer replays it without asking the coordinator
 * for up to `IDEMPOTENCY_EDGE_REPLAY_SECONDS`, and a purge can reach only the isolate that made
 * it. Were the key claimable at once, a retry reaching the coordinator would be forwarded (a new
 * charge) while retries reaching other isolates were still answered with the purged charge: the
 * client would see both. So the purge leaves a hold until every such entry has ended — the
 * purging Worker's edge bound from now, never past the record's own expiry, since no isolate
 * keeps an answer past it — and a request meeting the hold is told to come back
 * (`409 request-in-progress` with `Retry-After`), nothing claimed. Nothing global is asked on
 * the request path: the hold lives in the key's own object, read only when a key would be
 * claimed.
 *
 * `unknown` and `in_flight` records are never kept at the edge, so their purges need no hold.
 */

/** The table (docs/storage-schema.md). */
export const PURGE_HOLDS_SCHEMA = `
CREATE TABLE IF NOT EXISTS purge_holds (
  identity TEXT PRIMARY KEY,
  until INTEGER NOT NULL
);`;

/**
 * Holds `identity` until `until` (ms), or does nothing when `until` is not in the future.
 *
 * @example
 * holdPurged(sql, identity, Math.min(row.expiresAt, now + edgeMs), now);
 */
export function holdPurged(sql: SqlStorage, identity: string, until: number, now: number): void {
  if (until <= now) return;
  sql.exec(
    "INSERT INTO purge_holds (identity, until) VALUES (?, ?) ON CONFLICT (identity) DO UPDATE SET until = MAX(until, excluded.until)",
    identity,
    until,
  );
}

/**
 * When the hold on `identity` ends (ms), or `null` if it has none; an ended hold is removed.
 *
 * @example
 * const held = heldUntil(sql, identity, Date.now());
 * if (held !== null) return inProgress(Math.ceil((held - now) / 1000));
 */
export function heldUntil(sql: SqlStorage, identity: string, now: number): number | null {
  const row = sql
    .exec<{ until: number }>("SELECT until FROM purge_holds WHERE identity = ?", identity)
    .toArray()[0];
  if (row === undefined) return null;
  if (row.until > now) return row.until;
  sql.exec("DELETE FROM purge_holds WHERE identity = ?", identity);
  return null;
}

/**
 * Whether the object holds any purged key, running or ended: read once when the object starts,
 * so that a claim looks up holds only in an object that has some (`heldUntil` costs a statement
 * on every first request otherwise, for a table that is almost always empty).
 */
export function hasHolds(sql: SqlStorage): boolean {
  return (
    sql.exec<{ any: number }>("SELECT EXISTS (SELECT 1 FROM purge_holds) AS any").one().any === 1
  );
}

/**
 * Removes ended holds (the alarm's garbage collection); the earliest hold still running, or
 * `null`.
 */
export function collectHolds(sql: SqlStorage, now: number): number | null {
  sql.exec("DELETE FROM purge_holds WHERE until <= ?", now);
  return sql.exec<{ next: number | null }>("SELECT MIN(until) AS next FROM purge_holds").one().next;
}
