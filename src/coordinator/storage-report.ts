import { STORAGE_WARN_SHARE, storageStanding } from "./capacity";
import type { IdempotencyCoordinator } from "./coordinator";
import { stubAt } from "./locate";
import { READS_AT_ONCE, type RecordObjects } from "./record-finder";

/**
 * Each object's storage use, for operators sizing shards (docs/security.md, "Bounds"): the SQLite database
 * size against the refusal size (`IDEMPOTENCY_STORAGE_LIMIT_BYTES`), read from every object of
 * the mapping(s) in use, a bounded number at a time.
 */

/** One object's line of the report. */
export interface ObjectStorage {
  /** The object's address (`objectAddress`), e.g. `shard-17-of-64`. */
  object: string;
  bytes: number;
  records: number;
  /** `ok`; `high` from the warning share; `full`: it takes no new key. */
  standing: "ok" | "high" | "full";
}

/**
 * Reads every object's storage use, largest first.
 *
 * @example
 * const report = await storageReport(env.COORDINATOR, objects, config.storageLimitBytes);
 */
export async function storageReport(
  namespace: DurableObjectNamespace<IdempotencyCoordinator>,
  objects: RecordObjects,
  refuseBytes: number,
): Promise<{ refuseBytes: number; warnBytes: number; objects: ObjectStorage[] }> {
  const lines: ObjectStorage[] = [];
  for (let start = 0; start < objects.addresses.length; start += READS_AT_ONCE) {
    const batch = objects.addresses.slice(start, start + READS_AT_ONCE);
    const uses = await Promise.all(batch.map((address) => stubAt(namespace, address).storageUse()));
    uses.forEach((use, index) => {
      const object = batch[index] ?? "";
      lines.push({ object, ...use, standing: storageStanding(use.bytes, refuseBytes) });
    });
  }
  lines.sort((a, b) => b.bytes - a.bytes);
  return { refuseBytes, warnBytes: Math.floor(refuseBytes * STORAGE_WARN_SHARE), objects: lines };
}
