import type { PageQuery, RecordSummary } from "./admin-protocol";
import type { RecordState } from "../core/record";
import { RECORD_STATES, newestFirst } from "../core/record-page";

/**
 * The coordinator's SQL for operators: the columns and the index that listing and reconciling
 * need, and the queries that read them (docs/storage-schema.md). Each function takes the object's
 * `SqlStorage` and runs synchronously, inside the caller's turn.
 */

/**
 * Columns added to `records` after its first version: nullable, so rows written before them read
 * as `NULL` (docs/storage-schema.md, "Schema changes").
 */
const ADDED_COLUMNS: readonly (readonly [name: string, type: string])[] = [
  ["method", "TEXT"],
  ["path", "TEXT"],
  ["resolved_at", "INTEGER"],
  ["reforwarded_at", "INTEGER"],
  // The keyed key hash its claim was logged with (src/core/key-hash.ts).
  ["key_hash", "TEXT"],
];

/**
 * Finds a record by the key hash of its log line. Created after the columns are added: it names
 * `key_hash`, which an older table lacks until then.
 */
const RECORDS_BY_KEY_HASH = "CREATE INDEX IF NOT EXISTS records_by_key_hash ON records (key_hash)";

/**
 * Serves listings by state, newest first, without reading the other states' rows or sorting. It
 * names only columns of the first version of `records`, so it can be created before (and
 * whether or not) the added columns exist.
 */
export const RECORDS_BY_STATE = `
CREATE INDEX IF NOT EXISTS records_by_state ON records (state, created_at, identity);
`;

/**
 * Adds the columns an older object lacks. Runs in the constructor, after the schema: `CREATE
 * TABLE IF NOT EXISTS` leaves an existing table as it was, and `ALTER TABLE … ADD COLUMN` fails
 * on a column that exists, hence the check (`PRAGMA table_info`; `PRAGMA user_version` is not
 * available in Durable Objects).
 */
export function addMissingColumns(sql: SqlStorage): void {
  const present = new Set(
    sql
      .exec<{ name: string }>("PRAGMA table_info(records)")
      .toArray()
      .map((column) => column.name),
  );
  for (const [name, type] of ADDED_COLUMNS) {
    if (!present.has(name)) sql.exec(`ALTER TABLE records ADD COLUMN ${name} ${type}`);
  }
  sql.exec(RECORDS_BY_KEY_HASH);
}

/** Larger than any identity: every identity sorts below it, as hex digits sort below "g". */
const ABOVE_ALL = "g";

/**
 * One state's newest live records below a position: parameters state, position (created_at,
 * identity), now, limit. SQLite reads it as a search of `records_by_state` from the position down.
 */
export const PAGE_OF_STATE = `SELECT identity, key_hash, state, method, path, created_at, expires_at, status, detail FROM records
WHERE state = ? AND (created_at, identity) < (?, ?) AND expires_at > ?
ORDER BY created_at DESC, identity DESC LIMIT ?`;

/**
 * The object's newest live records after `query.after`, at most `query.limit`, in listing order.
 * Each state is read through `records_by_state`, from the cursor's position down, so a page costs
 * the rows it returns, not the rows the object holds.
 */
export function pageOfRecords(sql: SqlStorage, query: PageQuery, now: number): RecordSummary[] {
  const after = query.after ?? { createdAt: Number.MAX_SAFE_INTEGER, identity: ABOVE_ALL };
  const states = query.state === null ? RECORD_STATES : [query.state];
  const rows = states.flatMap((state) =>
    sql
      .exec<SummaryRow>(PAGE_OF_STATE, state, after.createdAt, after.identity, now, query.limit)
      .toArray(),
  );
  return rows.map(summaryOf).sort(newestFirst).slice(0, query.limit);
}

/**
 * The identities of live records whose key hash is `keyHash`, at most `limit`: one is the
 * record, two mean the hash is ambiguous. A record claimed without a key hash (by a version
 * before keyed hashes, or with no secret set) is found by the hash those versions logged, its
 * identity's prefix (`legacyKeyHash`), so its old log lines still lead to it.
 */
export function identitiesByKeyHash(
  sql: SqlStorage,
  keyHash: string,
  now: number,
  limit: number,
): string[] {
  const keyed = sql
    .exec<{ identity: string }>(
      "SELECT identity FROM records WHERE key_hash = ? AND expires_at > ? LIMIT ?",
      keyHash,
      now,
      limit,
    )
    .toArray();
  const legacy = sql
    .exec<{ identity: string }>(
      "SELECT identity FROM records WHERE identity >= ? AND identity < ? AND key_hash IS NULL AND expires_at > ? LIMIT ?",
      keyHash,
      keyHash + ABOVE_ALL,
      now,
      limit,
    )
    .toArray();
  return [...keyed, ...legacy].slice(0, limit).map((row) => row.identity);
}

/** The key hash a record was claimed with; `null` if it has none (or no record). */
export function storedKeyHash(sql: SqlStorage, identity: string): string | null {
  const row = sql
    .exec<{ key_hash: string | null }>("SELECT key_hash FROM records WHERE identity = ?", identity)
    .toArray()[0];
  return row?.key_hash ?? null;
}

/** In-flight records whose lease has ended: orphaned, unless this instance still holds them. */
export function endedLeases(sql: SqlStorage, now: number): string[] {
  return sql
    .exec<{ identity: string }>(
      "SELECT identity FROM records WHERE state = 'in_flight' AND lease_until <= ?",
      now,
    )
    .toArray()
    .map((row) => row.identity);
}

type SummaryRow = {
  identity: string;
  key_hash: string | null;
  state: RecordState;
  method: string | null;
  path: string | null;
  created_at: number;
  expires_at: number;
  status: number | null;
  detail: string | null;
};

function summaryOf(row: SummaryRow): RecordSummary {
  return {
    identity: row.identity,
    keyHash: row.key_hash,
    state: row.state,
    method: row.method,
    path: row.path,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    status: row.status,
    detail: row.detail,
  };
}
