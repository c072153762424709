import type { RecordState } from "./record";

/**
 * Paging through records for operators (`GET /__idempotency/keys`, docs/operations.md, "Operating it"): the
 * order records are listed in, and the opaque cursor that says where the next page starts. Pure:
 * no I/O, no clock.
 */

/** Every record state, in the order the README lists them. */
export const RECORD_STATES: readonly RecordState[] = Object.freeze([
  "in_flight",
  "completed",
  "unknown",
]);

/** Where a record sits in the listing order. */
export interface RecordPosition {
  /** When the key was claimed (ms since epoch). */
  createdAt: number;
  /** The key identity (64 hex digits): breaks ties between records claimed in one millisecond. */
  identity: string;
}

/**
 * The listing order: newest first, and among records claimed in the same millisecond the larger
 * identity first, so the order is total and a cursor never skips or repeats a record.
 *
 * @example
 * records.sort(newestFirst);
 */
export function newestFirst(a: RecordPosition, b: RecordPosition): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.identity < b.identity ? 1 : a.identity > b.identity ? -1 : 0;
}

/** Where the next page of a listing starts. */
export interface ListCursor {
  /** The listing's state filter; `null`: every state. A cursor only continues its own listing. */
  state: RecordState | null;
  /** The key mapping(s) listed, e.g. `v1/shards=64`: a cursor is refused once they change. */
  mapping: string;
  /** The group of objects the next page reads (objects are read a bounded group per page). */
  group: number;
  /** The last record already returned from this group; `null`: from the group's newest. */
  after: RecordPosition | null;
}

const CURSOR_VERSION = 1;
const IDENTITY = /^[0-9a-f]{64}$/;

/**
 * The cursor as an opaque URL-safe token (base64url of a small JSON array, RFC 4648 §5).
 *
 * @example
 * encodeCursor({ state: "unknown", mapping: "v1/shards=64", group: 0, after: null });
 */
export function encodeCursor(cursor: ListCursor): string {
  const fields = [
    CURSOR_VERSION,
    cursor.state,
    cursor.mapping,
    cursor.group,
    cursor.after?.createdAt ?? null,
    cursor.after?.identity ?? null,
  ];
  return btoa(JSON.stringify(fields)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Reads a token written by `encodeCursor`; `null` for anything else (a client must never be able
 * to make the gateway throw, or to name a position it was not given in a well-formed way).
 *
 * @example
 * decodeCursor(encodeCursor(cursor)); // equal to cursor
 * decodeCursor("not a cursor"); // null
 */
export function decodeCursor(token: string): ListCursor | null {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(token)) return null;
  let fields: unknown;
  try {
    fields = JSON.parse(atob(token.replaceAll("-", "+").replaceAll("_", "/")));
  } catch {
    return null;
  }
  if (!Array.isArray(fields) || fields.length !== 6) return null;
  const [version, state, mapping, group, createdAt, identity] = fields as unknown[];
  if (version !== CURSOR_VERSION) return null;
  if (state !== null && !RECORD_STATES.includes(state as RecordState)) return null;
  if (typeof mapping !== "string" || mapping === "") return null;
  if (!Number.isSafeInteger(group) || (group as number) < 0) return null;
  if (createdAt === null && identity === null) {
    return { state: state as RecordState | null, mapping, group: group as number, after: null };
  }
  if (!Number.isSafeInteger(createdAt) || (createdAt as number) < 0) return null;
  if (typeof identity !== "string" || !IDENTITY.test(identity)) return null;
  return {
    state: state as RecordState | null,
    mapping,
    group: group as number,
    after: { createdAt: createdAt as number, identity },
  };
}
