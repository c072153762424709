/**
 * Keys this object sent to the new mapping during a migration (docs/adr/0006). While the key →
 * object mapping changes, every Worker reaches a key through its object under the previous
 * mapping. That object keeps the keys it holds; for any other key it records here where the key
 * went, before sending the Worker there. A Worker not yet redeployed, which knows only the
 * previous mapping, is then sent to the same place: a key never has two homes.
 *
 * Storage: the `moved` table of the object's SQLite database (docs/storage-schema.md).
 */

/** The table; created with the object's schema. */
export const MOVED_SCHEMA = `
CREATE TABLE IF NOT EXISTS moved (
  identity TEXT PRIMARY KEY,
  destination TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS moved_by_expiry ON moved (expires_at);
`;

/**
 * How much longer a marker lives than the record it points to: the record is written in another
 * object, on another machine, moments later, and clocks differ.
 */
export const MOVED_MARGIN_MS = 5 * 60_000;

/** Whether any marker is stored (live or not yet collected). */
export function hasMoved(sql: SqlStorage): boolean {
  return sql.exec<{ any: number }>("SELECT EXISTS (SELECT 1 FROM moved) AS any").one().any === 1;
}

/** Where `identity` was sent, if a live marker says so. */
export function movedTo(sql: SqlStorage, identity: string, now: number): string | null {
  const row = sql
    .exec<{ destination: string }>(
      "SELECT destination FROM moved WHERE identity = ? AND expires_at > ?",
      identity,
      now,
    )
    .toArray()[0];
  return row?.destination ?? null;
}

/**
 * Records (or refreshes) that `identity` lives in `destination` until `recordExpiresAt`: every
 * redirect refreshes it, so it always outlives the record it points to. Returns the marker's
 * expiry.
 */
export function markMoved(
  sql: SqlStorage,
  identity: string,
  destination: string,
  recordExpiresAt: number,
): number {
  const expiresAt = recordExpiresAt + MOVED_MARGIN_MS;
  sql.exec(
    "INSERT INTO moved (identity, destination, expires_at) VALUES (?, ?, ?) ON CONFLICT (identity) DO UPDATE SET destination = excluded.destination, expires_at = MAX(expires_at, excluded.expires_at)",
    identity,
    destination,
    expiresAt,
  );
  return expiresAt;
}

/**
 * Removes up to `limit` expired markers. `more`: expired markers remain; `next`: the earliest
 * expiry among the markers left, or `null` when none is.
 */
export function collectMoved(
  sql: SqlStorage,
  now: number,
  limit: number,
): { more: boolean; next: number | null } {
  const removed = sql.exec(
    "DELETE FROM moved WHERE identity IN (SELECT identity FROM moved WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
    now,
    limit,
  ).rowsWritten;
  const next = sql
    .exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM moved")
    .one().next;
  return { more: removed >= limit && next !== null && next <= now, next };
}
