import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GROWTH_PER_WRITE_BYTES, StorageGauge } from "../../../src/coordinator/storage-gauge";

/** A database whose size the test sets, counting how often it is read. */
function database(initial: number) {
  const db = { size: initial, reads: 0 };
  const gauge = new StorageGauge(() => {
    db.reads++;
    return db.size;
  });
  return { db, gauge };
}

describe("StorageGauge", () => {
  it("reads the size once, then not again while the writes since cannot have brought it to the threshold", () => {
    const { db, gauge } = database(1_000_000);
    expect(gauge.bound(1_000_000_000)).toBe(1_000_000);
    for (let i = 0; i < 100; i++) {
      gauge.wrote(2_000);
      db.size += 10_000;
      expect(gauge.bound(1_000_000_000)).toBeLessThan(1_000_000_000);
    }
    expect(db.reads).toBe(1);
  });

  it("reads the size again as soon as the writes since could have reached the threshold", () => {
    const { db, gauge } = database(0);
    const threshold = 10 * GROWTH_PER_WRITE_BYTES;
    gauge.bound(threshold);
    for (let i = 0; i < 9; i++) gauge.wrote(0);
    gauge.bound(threshold);
    expect(db.reads).toBe(1);
    gauge.wrote(0);
    db.size = threshold;
    expect(gauge.bound(threshold)).toBe(threshold);
    expect(db.reads).toBe(2);
  });

  it("answers at or past the threshold exactly when the size is, whatever the writes (property)", () => {
    fc.assert(
      fc.property(
        fc.nat(1_000_000),
        fc.integer({ min: 1, max: 4_000_000 }),
        fc.array(fc.tuple(fc.nat(100_000), fc.double({ min: 0, max: 1, noNaN: true })), {
          maxLength: 60,
        }),
        (initial, threshold, writes) => {
          const { db, gauge } = database(initial);
          expect(gauge.bound(threshold) >= threshold).toBe(db.size >= threshold);
          for (const [payload, share] of writes) {
            gauge.wrote(payload);
            // A write grows the database by at most what the gauge counts for it.
            db.size += Math.floor(share * (2 * payload + GROWTH_PER_WRITE_BYTES));
            expect(gauge.bound(threshold) >= threshold).toBe(db.size >= threshold);
          }
        },
      ),
    );
  });
});
