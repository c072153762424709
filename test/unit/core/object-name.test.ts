import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/core/canonical-encoding";
import { keyIdentity } from "../../../src/core/key-identity";
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

/**
 * The documented mapping (docs/adr/0002), written out again here rather than imported: shards
 * = 0 names the object by the identity; otherwise the shard is the identity's first 32 bits, read
 * as an unsigned big-endian integer, modulo N.
 */
function documentedObjectName(id: string, shards: number): string {
  if (shards === 0) return id;
  const first4 = Uint8Array.from([0, 2, 4, 6], (at) => Number.parseInt(id.slice(at, at + 2), 16));
  return `shard-${new DataView(first4.buffer).getUint32(0) % shards}-of-${shards}`;
}

/** Identities of real keys (test/unit/core/key-identity.test.ts) and hand-made edge cases. */
const KEY_UNDER_SK_TEST_A = "b4f5fd43299f17251c6b1b6d9041b9273485bcac1c0e53f6f2f1102eb1232e8f";
const KEY_UNSCOPED = "6bee1556953521a58705456b04db382c20be9d1ac3ef77c38169aee311c4bf1e";
const KEY_SECOND_HEADER_ABSENT = "1995c0c657d5575da5ffcf3f3a90bc89bf78eee134b021937dd8abda3e463c49";
/** All 32 leading bits set (an unsigned/signed mix-up shows), and zeros after them. */
const HIGH_BITS = `ffffffff${"0".repeat(56)}`;
/** Zero leading bits, and every later bit set (reading the wrong end shows). */
const LOW_BITS = `00000000${"f".repeat(56)}`;

/**
 * Known answers: identity, shard count, object name, computed once by hand (first 8 hex digits,
 * as an unsigned integer, modulo N) and written down.
 *
 * DO NOT EDIT these names to make a test pass. The object name is where a key's record lives, so
 * a change re-homes every stored key: its retries find no record and are forwarded to the origin
 * a second time. A mapping change must come with a new `MAPPING_VERSION` and a migration
 * (docs/adr/0006), and only then new vectors.
 */
const OBJECT_NAME_VECTORS: readonly [
  label: string,
  identity: string,
  shards: number,
  name: string,
][] = [
  ["a key under Bearer sk_test_a", KEY_UNDER_SK_TEST_A, 0, KEY_UNDER_SK_TEST_A],
  ["a key under Bearer sk_test_a", KEY_UNDER_SK_TEST_A, 1, "shard-0-of-1"],
  ["a key under Bearer sk_test_a", KEY_UNDER_SK_TEST_A, 64, "shard-3-of-64"],
  ["a key under Bearer sk_test_a", KEY_UNDER_SK_TEST_A, 100, "shard-35-of-100"],
  ["a key under Bearer sk_test_a", KEY_UNDER_SK_TEST_A, 4096, "shard-3395-of-4096"],
  ["an unscoped key", KEY_UNSCOPED, 0, KEY_UNSCOPED],
  ["an unscoped key", KEY_UNSCOPED, 1, "shard-0-of-1"],
  ["an unscoped key", KEY_UNSCOPED, 64, "shard-22-of-64"],
  ["an unscoped key", KEY_UNSCOPED, 100, "shard-42-of-100"],
  ["an unscoped key", KEY_UNSCOPED, 4096, "shard-1366-of-4096"],
  ["a key whose second scope header is absent", KEY_SECOND_HEADER_ABSENT, 64, "shard-6-of-64"],
  ["a key whose second scope header is absent", KEY_SECOND_HEADER_ABSENT, 100, "shard-14-of-100"],
  [
    "a key whose second scope header is absent",
    KEY_SECOND_HEADER_ABSENT,
    4096,
    "shard-198-of-4096",
  ],
  ["an identity with the first 32 bits set", HIGH_BITS, 0, HIGH_BITS],
  ["an identity with the first 32 bits set", HIGH_BITS, 1, "shard-0-of-1"],
  ["an identity with the first 32 bits set", HIGH_BITS, 64, "shard-63-of-64"],
  ["an identity with the first 32 bits set", HIGH_BITS, 100, "shard-95-of-100"],
  ["an identity with the first 32 bits set", HIGH_BITS, 4096, "shard-4095-of-4096"],
  ["an identity with the first 32 bits clear", LOW_BITS, 64, "shard-0-of-64"],
  ["an identity with the first 32 bits clear", LOW_BITS, 100, "shard-0-of-100"],
  ["an identity with the first 32 bits clear", LOW_BITS, 4096, "shard-0-of-4096"],
];

/** The vectors as named cases, for test titles. */
const OBJECT_NAME_CASES = OBJECT_NAME_VECTORS.map(([label, id, shards, name]) => ({
  label,
  id,
  shards,
  name,
}));

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

describe("objectName known answers", () => {
  it.each(OBJECT_NAME_CASES)(
    "follows the documented mapping for $label with $shards shards",
    ({ id, shards }) => {
      expect(objectName(id, shards)).toBe(documentedObjectName(id, shards));
    },
  );

  it.each(OBJECT_NAME_CASES)(
    "still puts $label with $shards shards in the pinned object $name, so no stored key is re-homed",
    ({ id, shards, name }) => {
      expect(objectName(id, shards)).toBe(name);
    },
  );

  it("keeps the default deployment's keys where they are: a key under Bearer sk_test_a lives in shard-3-of-64", async () => {
    const identity = await keyIdentity(
      ["authorization"],
      (name) => (name === "authorization" ? "Bearer sk_test_a" : null),
      "8e03978e-40d5-43e8-bc93-6894a57f9324",
    );
    expect(objectName(identity, 64)).toBe("shard-3-of-64");
  });
});
