/**
 * How large an object's database is, read from SQLite only when the answer could matter.
 *
 * Every claim checks the database size against the refusal size (`./capacity.ts`), and reading
 * it (`sql.databaseSize`, a `PRAGMA` under the hood) cost about 1.4% of the gateway's CPU per
 * first request in workerd alone (bench/README.md, "Cuts of this round"). Yet a database far
 * below the threshold cannot reach it in a few writes: so the gauge keeps the last size read
 * plus an upper bound of what the writes since can have added, and reads the size again only
 * when that bound reaches the threshold asked about. The decision is the same as reading every time: a bound
 * below the threshold means the size is below it too.
 */

/**
 * What one write can add to the database beyond twice its payload: a row's own page, a split of
 * each B-tree it touches (the table, its primary key and three indexes, each a few levels deep),
 * at 4 KiB a page. Generous on purpose: it only decides when the size is read again.
 */
export const GROWTH_PER_WRITE_BYTES = 128 * 1024;

/** The size of one database, read when needed. */
export class StorageGauge {
  readonly #read: () => number;
  #measured = 0;
  #since = Number.POSITIVE_INFINITY;

  /** @param read - reads the size (`() => sql.databaseSize`) */
  constructor(read: () => number) {
    this.#read = read;
  }

  /**
   * The size, or, when it is certainly below `threshold`, an upper bound of it (also below).
   *
   * @example
   * if (gauge.bound(refuseBytes * STORAGE_WARN_SHARE) >= refuseBytes * STORAGE_WARN_SHARE) warn();
   */
  bound(threshold: number): number {
    const bound = this.#measured + this.#since;
    if (bound < threshold) return bound;
    this.#measured = this.#read();
    this.#since = 0;
    return this.#measured;
  }

  /**
   * Counts a write of `payloadBytes` (the bytes it stores: keys, answers, headers). Every write
   * of a record, marker or hold is counted; the few other rows an object writes (the registry's
   * verdicts, its alarm) are smaller than one write's margin, and rare.
   */
  wrote(payloadBytes: number): void {
    this.#since += 2 * payloadBytes + GROWTH_PER_WRITE_BYTES;
  }
}
