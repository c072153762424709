import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NO_PLACEMENT } from "../../../src/core/mapping";
import { objectName } from "../../../src/core/object-name";
import {
  RECORD_STATES,
  decodeCursor,
  encodeCursor,
  newestFirst,
  type ListCursor,
} from "../../../src/core/record-page";
import { recordObjects } from "../../../src/coordinator/record-finder";

const identity = fc.string({
  unit: fc.constantFrom(..."0123456789abcdef"),
  minLength: 64,
  maxLength: 64,
});

const position = fc.record({ createdAt: fc.nat({ max: 2 ** 50 }), identity });

const cursor: fc.Arbitrary<ListCursor> = fc.record({
  state: fc.constantFrom(null, ...RECORD_STATES),
  mapping: fc.constantFrom("v1/shards=64", "v1/shards=64,v1/shards=128"),
  group: fc.nat({ max: 32 }),
  after: fc.option(position, { nil: null }),
});

describe("newestFirst", () => {
  it("orders by creation time, newest first, then by identity, larger first", () => {
    const a = { createdAt: 2, identity: "a".repeat(64) };
    const b = { createdAt: 1, identity: "f".repeat(64) };
    const c = { createdAt: 1, identity: "0".repeat(64) };
    expect([c, a, b].sort(newestFirst)).toEqual([a, b, c]);
  });

  it("is a total order: two different positions never compare equal", () => {
    fc.assert(
      fc.property(position, position, (x, y) => {
        const same = x.createdAt === y.createdAt && x.identity === y.identity;
        expect(newestFirst(x, y) === 0).toBe(same);
        expect(Math.sign(newestFirst(x, y)) + Math.sign(newestFirst(y, x))).toBe(0);
      }),
    );
  });
});

describe("the listing cursor", () => {
  it("reads back exactly what it was written from", () => {
    fc.assert(
      fc.property(cursor, (c) => {
        expect(decodeCursor(encodeCursor(c))).toEqual(c);
      }),
    );
  });

  it("is URL-safe: base64url, no padding", () => {
    fc.assert(
      fc.property(cursor, (c) => {
        expect(encodeCursor(c)).toMatch(/^[A-Za-z0-9_-]+$/);
      }),
    );
  });

  it.each([
    ["an empty token", ""],
    ["text that is not base64url", "not a cursor!"],
    ["base64url of text that is not JSON", btoa("hello").replace(/=+$/, "")],
    ["another version", btoa(JSON.stringify([2, null, "v1/shards=64", 0, null, null]))],
    ["an unknown state", btoa(JSON.stringify([1, "lost", "v1/shards=64", 0, null, null]))],
    ["a negative group", btoa(JSON.stringify([1, null, "v1/shards=64", -1, null, null]))],
    ["a position without identity", btoa(JSON.stringify([1, null, "v1/shards=64", 0, 5, null]))],
    ["an identity that is not one", btoa(JSON.stringify([1, null, "v1/shards=64", 0, 5, "abc"]))],
    ["an over-long token", "A".repeat(513)],
  ])("does NOT read %s: null", (_, token) => {
    expect(decodeCursor(token.replace(/=+$/, ""))).toBeNull();
  });

  it("never throws, whatever the token", () => {
    fc.assert(fc.property(fc.string(), (token) => void decodeCursor(token)));
  });
});

/** Mapping settings with nothing but a shard count. */
const NONE = { ...NO_PLACEMENT, previousShards: null, previousMapping: null };

describe("recordObjects", () => {
  it("names every shard of the mapping once, as objectName places identities", () => {
    const objects = recordObjects({ ...NONE, shards: 64 });
    expect(objects?.mapping).toBe("v1/shards=64");
    expect(new Set(objects?.addresses).size).toBe(64);
    fc.assert(
      fc.property(identity, (id) => {
        expect(objects?.addresses).toContain(objectName(id, 64));
      }),
    );
  });

  it("lists the previous mapping's shards first during a migration", () => {
    const objects = recordObjects({ ...NONE, shards: 4, previousShards: 2 });
    expect(objects).toEqual({
      mapping: "v1/shards=2,v1/shards=4",
      addresses: [
        "shard-0-of-2",
        "shard-1-of-2",
        "shard-0-of-4",
        "shard-1-of-4",
        "shard-2-of-4",
        "shard-3-of-4",
      ],
    });
  });

  it("is null when a mapping gives each key its own object", () => {
    expect(recordObjects({ ...NONE, shards: 0 })).toBeNull();
    expect(recordObjects({ ...NONE, shards: 8, previousShards: 0 })).toBeNull();
  });
});
