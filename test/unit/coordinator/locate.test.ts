import { describe, expect, it } from "vitest";
import { keyRoute, stubAt } from "../../../src/coordinator/locate";
import { objectName } from "../../../src/core/object-name";

const IDENTITY = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea";
const SHARD = objectName(IDENTITY, 64);
const PLAIN = {
  shards: 64,
  previousShards: null,
  previousMapping: null,
  locationHint: null,
  jurisdiction: null,
} as const;

/** A namespace that records how it is asked for stubs (jurisdiction, name, options). */
function recordingNamespace() {
  const calls: unknown[][] = [];
  const scoped = (jurisdiction: string | null) => ({
    getByName: (name: string, options?: object) => {
      calls.push([jurisdiction, name, options]);
      return { name };
    },
  });
  const namespace = {
    ...scoped(null),
    jurisdiction: (jurisdiction: string) => scoped(jurisdiction),
  };
  return { calls, namespace: namespace as unknown as Parameters<typeof stubAt>[0] };
}

describe("locating a key's coordinator", () => {
  it("asks for a plain address in the unrestricted namespace, with no options", () => {
    const { calls, namespace } = recordingNamespace();
    stubAt(namespace, keyRoute(IDENTITY, PLAIN).first);
    expect(calls).toEqual([[null, SHARD, undefined]]);
  });

  it("passes the location hint when the object is reached, and uses the jurisdiction's namespace", () => {
    const { calls, namespace } = recordingNamespace();
    const placed = { ...PLAIN, locationHint: "weur", jurisdiction: "eu" } as const;
    stubAt(namespace, keyRoute(IDENTITY, placed).first);
    expect(calls).toEqual([["eu", `${SHARD}@weur`, { locationHint: "weur" }]]);
  });

  it("sends a key first to its object under the previous mapping, then names its new home", () => {
    const moving = {
      ...PLAIN,
      locationHint: "enam",
      previousMapping: { shards: 64, locationHint: null, jurisdiction: null },
    } as const;
    expect(keyRoute(IDENTITY, moving)).toEqual({ first: SHARD, next: `${SHARD}@enam` });
    expect(keyRoute(IDENTITY, { ...PLAIN, previousShards: 8 })).toEqual({
      first: objectName(IDENTITY, 8),
      next: SHARD,
    });
  });
});
