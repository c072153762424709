import {
  mappingsOf,
  nameOfMapping,
  objectAddress,
  type Mapping,
  type MappingSettings,
} from "../core/mapping";
import type { RecordState } from "../core/record";
import { newestFirst, type ListCursor } from "../core/record-page";
import type { RecordSummary } from "./admin-protocol";
import type { IdempotencyCoordinator } from "./coordinator";
import { stubAt } from "./locate";

/**
 * Finding records without a key's identity, for operators (docs/operations.md, "Reconciling an unknown
 * outcome"): listing the records of every coordinator object, and finding one record by its key
 * hash. Both need the objects to be enumerable: the shards of the key mapping and, during a
 * change of the shard count, of the previous one (docs/adr/0006). With one object per key
 * (`IDEMPOTENCY_SHARDS=0`) objects are named by whole identities, which nothing can list.
 */

type Namespace = DurableObjectNamespace<IdempotencyCoordinator>;
type Stub = DurableObjectStub<IdempotencyCoordinator>;

/**
 * Most objects one page reads. The 64 default shards, and a change from 64 to 128, fit in one
 * group, and their pages are newest first across every object; past it, objects are read a group
 * per page, newest first within the group. Each object read is a subrequest of the admin call.
 */
export const OBJECTS_PER_PAGE = 256;

/** Object reads in flight at once while a page is gathered. */
export const READS_AT_ONCE = 16;

/** The objects that hold records, in a fixed order. */
export interface RecordObjects {
  /** The mapping(s) they belong to, e.g. `v1/shards=64` (a cursor is only valid for these). */
  mapping: string;
  /** Their addresses (`objectAddress`): the previous mapping's shards first during a migration. */
  addresses: readonly string[];
}

/**
 * The objects that may hold records under `settings`, or `null` when a mapping in use gives each
 * key its own object.
 *
 * @example
 * recordObjects({ shards: 4, previousShards: null, previousMapping: null, ...NO_PLACEMENT });
 * // { mapping: "v1/shards=4", addresses: ["shard-0-of-4", …, "shard-3-of-4"] }
 */
export function recordObjects(settings: MappingSettings): RecordObjects | null {
  const mappings = mappingsInUse(settings);
  if (mappings === null) return null;
  return {
    mapping: mappings.map(nameOfMapping).join(","),
    // `objectAddress` stays the one place that names objects: an identity whose first 32 bits
    // are `i` lives in shard `i`, for every `i` below the shard count.
    addresses: mappings.flatMap((mapping) =>
      Array.from({ length: mapping.shards }, (_, i) =>
        objectAddress(i.toString(16).padStart(8, "0"), mapping),
      ),
    ),
  };
}

/** The previous mapping (first) and the current one; `null` if one has an object per key. */
function mappingsInUse(settings: MappingSettings): Mapping[] | null {
  const { current, previous } = mappingsOf(settings);
  const mappings = previous === null ? [current] : [previous, current];
  return mappings.some((mapping) => mapping.shards === 0) ? null : mappings;
}

/** One page of a listing. */
export interface RecordPage {
  records: RecordSummary[];
  /** Where the next page starts; `null` after the last one. */
  cursor: ListCursor | null;
}

/** Options of `readPage`. */
export interface ReadPageOptions {
  /** Objects per page (`OBJECTS_PER_PAGE`); tests make it small to page across groups. */
  objectsPerPage?: number;
}

/**
 * Reads one page: the newest `limit` live records after the cursor, from the cursor's group of
 * objects. Each object returns at most `limit + 1` records, and only the best `limit + 1` are
 * kept between batches of reads, so memory stays bounded by the page, not by the objects.
 *
 * @example
 * const page = await readPage(env.COORDINATOR, objects, { state: "unknown", limit: 50, cursor: null });
 */
export async function readPage(
  namespace: Namespace,
  objects: RecordObjects,
  query: { state: RecordState | null; limit: number; cursor: ListCursor | null },
  { objectsPerPage = OBJECTS_PER_PAGE }: ReadPageOptions = {},
): Promise<RecordPage> {
  const { state, limit, cursor } = query;
  const group = cursor?.group ?? 0;
  const addresses = objects.addresses.slice(group * objectsPerPage, (group + 1) * objectsPerPage);
  const share = { state, after: cursor?.after ?? null, limit: limit + 1 };
  let best: RecordSummary[] = [];
  for (let start = 0; start < addresses.length; start += READS_AT_ONCE) {
    const batch = addresses.slice(start, start + READS_AT_ONCE);
    const shares = await Promise.all(
      batch.map((address) => stubAt(namespace, address).listRecords(share)),
    );
    best = [...best, ...shares.flat()].sort(newestFirst).slice(0, limit + 1);
  }
  const records = best.slice(0, limit);
  const last = records.at(-1);
  if (best.length > limit && last !== undefined) {
    const after = { createdAt: last.createdAt, identity: last.identity };
    return { records, cursor: { state, mapping: objects.mapping, group, after } };
  }
  const more = (group + 1) * objectsPerPage < objects.addresses.length;
  return {
    records,
    cursor: more ? { state, mapping: objects.mapping, group: group + 1, after: null } : null,
  };
}

/** Where a key hash leads. */
export type KeyHashMatch =
  | { kind: "found"; identity: string; stub: Stub }
  | { kind: "absent" }
  /** Two live records share the key hash: it cannot say which one is meant. */
  | { kind: "ambiguous" }
  /** A mapping in use gives each key its own object, named by the whole identity. */
  | { kind: "unsupported" };

/**
 * The record whose key hash is `keyHash`. A keyed hash says nothing of the identity, so nothing
 * of the object either: every object of the mapping(s) in use is asked, `READS_AT_ONCE` at a
 * time (each a subrequest of the admin call), and each answers from its `key_hash` index. During
 * a migration the previous mapping's objects come first, as they arbitrate.
 *
 * @example
 * const match = await findByKeyHash(env.COORDINATOR, config, "9c41…");
 * if (match.kind === "found") await match.stub.lookup(match.identity);
 */
export async function findByKeyHash(
  namespace: Namespace,
  settings: MappingSettings,
  keyHash: string,
): Promise<KeyHashMatch> {
  const objects = recordObjects(settings);
  if (objects === null) return { kind: "unsupported" };
  const matches: { identity: string; stub: Stub }[] = [];
  const { addresses } = objects;
  for (let start = 0; start < addresses.length; start += READS_AT_ONCE) {
    const found = await Promise.all(
      addresses.slice(start, start + READS_AT_ONCE).map(async (address) => {
        const stub = stubAt(namespace, address);
        const identities = await stub.findByKeyHash(keyHash);
        return identities.map((identity) => ({ identity, stub }));
      }),
    );
    matches.push(...found.flat());
  }
  const first = matches[0];
  if (first === undefined) return { kind: "absent" };
  if (matches.some((match) => match.identity !== first.identity)) return { kind: "ambiguous" };
  return { kind: "found", identity: first.identity, stub: first.stub };
}
