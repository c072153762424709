import { migrationName, type MappingReport } from "../core/mapping";

/**
 * Keys this object sent to the new mapping during a migration (docs/adr/0006). While the key →
 * object mapping changes, every Worker reaches a key through its object under the previous
 * mapping. That object keeps the keys it holds; for any other key it records here where the key
 * went, before sending the Worker there. A Worker not yet redeployed, which knows only the
 * previous mapping, is then sent to the same place: a key never has two homes.
 *
 * A marker names the migration that wrote it (`migrationName`), and only redirects Workers of that
 * migration: migrating back within a TTL must not meet the markers of the way out.
 *
 * Storage: the `moved` table of the object's SQLite database (docs/storage-schema.md).
 */

/** The table; created with the object's schema. */
export const MOVED_SCHEMA = `
CREATE TABLE IF NOT EXISTS moved (
  identity TEXT PRIMARY KEY,
  destination TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  migration TEXT
);
CREATE INDEX IF NOT EXISTS moved_by_expiry ON moved (expires_at);
`;

/**
 * How much longer a marker lives than the record it points to: the record is written in another
 * object, on another machine, moments later, and clocks differ.
 */
export const MOVED_MARGIN_MS = 5 * 60_000;

/**
 * Adds the `migration` column to a table written before it existed. Its rows read as `NULL`: a
 * marker of an unnamed migration, which redirects every Worker as before.
 */
export function addMovedColumns(sql: SqlStorage): void {
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(moved)").toArray();
  if (!columns.some((column) => column.name === "migration")) {
    sql.exec("ALTER TABLE moved ADD COLUMN migration TEXT");
  }
}

/**
 * Which markers a command follows:
 * - `any`: a Worker that does not report its mapping (older versions): every marker;
 * - `migration`: a Worker migrating, at its previous object: that migration's markers;
 * - `from`: a Worker that knows only this object's mapping: markers of migrations away from it;
 * - `none`: a command sent on to its new home, which arbitrates nothing.
 */
export type MarkerScope =
  | { follows: "any" }
  | { follows: "migration"; migration: string }
  | { follows: "from"; mapping: string }
  | { follows: "none" };

/**
 * The markers a command follows, from the mapping its Worker reports and whether it comes to this
 * object as the key's previous home (`arbitrating`: the command names a next object).
 *
 * @example
 * markerScope({ current: "v1/shards=8", previous: "v1/shards=4", ttlMs: 1 }, true); // { follows: "migration", migration: "v1/shards=4->v1/shards=8" }
 */
export function markerScope(mapping: MappingReport | undefined, arbitrating: boolean): MarkerScope {
  if (mapping === undefined) return { follows: "any" };
  const migration = migrationName(mapping);
  if (migration === null) return { follows: "from", mapping: mapping.current };
  return arbitrating ? { follows: "migration", migration } : { follows: "none" };
}

/** Whether any marker is stored (live or not yet collected). */
export function hasMoved(sql: SqlStorage): boolean {
  return sql.exec<{ any: number }>("SELECT EXISTS (SELECT 1 FROM moved) AS any").one().any === 1;
}

/** A live marker: where a key was sent, and by which migration (`null`: unnamed). */
export interface Marker {
  destination: string;
  migration: string | null;
}

/** Where `identity` was sent, if a live marker that `scope` follows says so. */
export function movedTo(
  sql: SqlStorage,
  identity: string,
  now: number,
  scope: MarkerScope = { follows: "any" },
): Marker | null {
  if (scope.follows === "none") return null;
  const row = sql
    .exec<{ destination: string; migration: string | null }>(
      "SELECT destination, migration FROM moved WHERE identity = ? AND expires_at > ?",
      identity,
      now,
    )
    .toArray()[0];
  if (row === undefined || !markerApplies(scope, row.migration)) return null;
  return { destination: row.destination, migration: row.migration };
}

/**
 * Whether a command of `scope` follows a marker written by `migration` (`null`: a marker written
 * before markers named their migration, which every command but a redirected one follows).
 *
 * @example
 * markerApplies({ follows: "from", mapping: "v1/shards=4" }, "v1/shards=4->v1/shards=8"); // true
 */
export function markerApplies(scope: MarkerScope, migration: string | null): boolean {
  if (migration === null) return scope.follows !== "none";
  switch (scope.follows) {
    case "any":
      return true;
    case "migration":
      return migration === scope.migration;
    case "from":
      return migration.startsWith(`${scope.mapping}->`);
    case "none":
      return false;
  }
}

/**
 * Records (or refreshes) that `identity` lives in `destination` until `recordExpiresAt`, sent
 * there by `migration`: every redirect refreshes it, so it always outlives the record it points
 * to. A marker of another migration is replaced, expiry included. Returns the marker's expiry.
 */
export function markMoved(
  sql: SqlStorage,
  identity: string,
  destination: string,
  recordExpiresAt: number,
  migration: string | null = null,
): number {
  const expiresAt = recordExpiresAt + MOVED_MARGIN_MS;
  sql.exec(
    `INSERT INTO moved (identity, destination, expires_at, migration) VALUES (?, ?, ?, ?)
     ON CONFLICT (identity) DO UPDATE SET destination = excluded.destination, migration = excluded.migration,
       expires_at = CASE WHEN migration IS excluded.migration THEN MAX(expires_at, excluded.expires_at) ELSE excluded.expires_at END`,
    identity,
    destination,
    expiresAt,
    migration,
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
