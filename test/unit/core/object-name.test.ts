import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/core/canonical-encoding";
import { objectName } from "../../../src/core/object-name";

const IDENTITY = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea";
const SHARD_NAME = /^shard-(\d+)-of-(\d+)$/;
const SAMPLES = 2_000;
const SHARDS = 8;

const identity = fc.string({
  unit: fc.constantFrom(..."0123456789abcdef"),
  minLength: 64,
  maxLength: 64,
});

function shardIndex(name: string, shards: number): number {
  const match = SHARD_NAME.exec(name);
  expect(match).not.toBeNull();
  expect(match?.[2]).toBe(String(shards));
  return Number(match?.[1]);
}

describe("objectName", () => {
  it("is the identity itself when sharding is off (shards = 0)", () => {
    expect(objectName(IDENTITY, 0)).toBe(IDENTITY);
  });

  it("names the shard as shard-<i>-of-<N>", () => {
    // The first 32 bits, 0x3f79bb7b = 1064942459, and 1064942459 % 64 = 59.
    expect(objectName(IDENTITY, 64)).toBe("shard-59-of-64");
  });

  it("puts every key in the single shard when N = 1", () => {
    expect(objectName(IDENTITY, 1)).toBe("shard-0-of-1");
  });

  it("answers a shard index in 0..N-1 for any identity and N (property)", () => {
    fc.assert(
      fc.property(identity, fc.integer({ min: 1, max: 4096 }), (id, shards) => {
        const index = shardIndex(objectName(id, shards), shards);
        expect(Number.isInteger(index)).toBe(true);
        expect(index).toBeGreaterThanOrEqual(0);
        expect(index).toBeLessThan(shards);
      }),
    );
  });

  it("is deterministic: the same identity always maps to the same object (property)", () => {
    fc.assert(
      fc.property(identity, fc.integer({ min: 0, max: 4096 }), (id, shards) => {
        expect(objectName(id, shards)).toBe(objectName(id.slice(), shards));
      }),
    );
  });

  it("does NOT map different identities to one object when sharding is off (property)", () => {
    fc.assert(
      fc.property(identity, identity, (a, b) => {
        fc.pre(a !== b);
        expect(objectName(a, 0)).not.toBe(objectName(b, 0));
      }),
    );
  });

  it(`spreads ${SAMPLES} SHA-256 identities over all ${SHARDS} shards, roughly evenly`, async () => {
    const counts = new Array<number>(SHARDS).fill(0);
    for (let i = 0; i < SAMPLES; i++) {
      const id = await sha256Hex(new TextEncoder().encode(`key-${i}`));
      const index = shardIndex(objectName(id, SHARDS), SHARDS);
      counts[index] = (counts[index] ?? 0) + 1;
    }
    // Expected 250 per shard, standard deviation ≈ 15: 150..350 is more than 6 sigma.
    for (const count of counts) {
      expect(count).toBeGreaterThan(150);
      expect(count).toBeLessThan(350);
    }
  });

  it(`spreads ${SAMPLES} uniformly random identities over all ${SHARDS} shards`, () => {
    const counts = new Array<number>(SHARDS).fill(0);
    for (const id of fc.sample(identity, { numRuns: SAMPLES, seed: 42 })) {
      const index = shardIndex(objectName(id, SHARDS), SHARDS);
      counts[index] = (counts[index] ?? 0) + 1;
    }
    for (const count of counts) expect(count).toBeGreaterThan(0);
  });
});
