import { describe, expect, it } from "vitest";
import {
  BUSY_RETRY_AFTER,
  STORAGE_REFUSE_BYTES,
  STORAGE_WARN_SHARE,
  busyRetryAfter,
  isStorageFull,
  storageStanding,
} from "../../../src/coordinator/capacity";
import { COORDINATOR_MARGIN_MS, coordinatorDeadlineMs } from "../../../src/coordinator/deadline";
import { REGISTRY_TIMEOUT_MS } from "../../../src/coordinator/mapping-verdicts";
import { PROBE_TIMEOUT_MS } from "../../../src/coordinator/origin-probe";
import { RELAY_COUNT, isKeyObjectName, relayName } from "../../../src/coordinator/verdict-relay";
import { objectName } from "../../../src/core/object-name";

describe("busyRetryAfter", () => {
  it("spreads Retry-After over every whole second of its range, ends included", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) seen.add(busyRetryAfter(i / 100));
    const { min, max } = BUSY_RETRY_AFTER;
    expect([...seen].sort()).toEqual(Array.from({ length: max - min + 1 }, (_, i) => min + i));
  });

  it("never leaves its range, even for a random number at the edge", () => {
    expect(busyRetryAfter(0)).toBe(BUSY_RETRY_AFTER.min);
    expect(busyRetryAfter(0.999999999)).toBe(BUSY_RETRY_AFTER.max);
  });
});

describe("storageStanding", () => {
  it("is ok below the warning share, high from it, full from the refusal size", () => {
    const refuse = STORAGE_REFUSE_BYTES;
    expect(storageStanding(refuse * STORAGE_WARN_SHARE - 1, refuse)).toBe("ok");
    expect(storageStanding(refuse * STORAGE_WARN_SHARE, refuse)).toBe("high");
    expect(storageStanding(refuse - 1, refuse)).toBe("high");
    expect(storageStanding(refuse, refuse)).toBe("full");
  });
});

describe("isStorageFull", () => {
  it("recognises SQLite's full-database error, and nothing else", () => {
    expect(isStorageFull(new Error("SQLITE_FULL: database or disk is full"))).toBe(true);
    expect(isStorageFull(new Error("database or disk is full"))).toBe(true);
    expect(isStorageFull(new Error("SQLITE_CONSTRAINT: UNIQUE constraint failed"))).toBe(false);
    expect(isStorageFull("Network connection lost.")).toBe(false);
  });
});

describe("coordinatorDeadlineMs", () => {
  it("covers the registry, the probe and the origin call of a first request, plus the margin", () => {
    const policy = { originTimeoutMs: 30_000, waitMs: 10_000 };
    expect(coordinatorDeadlineMs(policy)).toBe(
      REGISTRY_TIMEOUT_MS + PROBE_TIMEOUT_MS + 30_000 + COORDINATOR_MARGIN_MS,
    );
  });

  it("covers a duplicate's wait when it is the longer", () => {
    expect(coordinatorDeadlineMs({ originTimeoutMs: 1_000, waitMs: 60_000 })).toBe(
      60_000 + COORDINATOR_MARGIN_MS,
    );
  });
});

describe("verdict relays", () => {
  const identity = "0000001f" + "a".repeat(56);

  it("tells an object of one key from a shard", () => {
    expect(isKeyObjectName(objectName(identity, 0))).toBe(true);
    expect(isKeyObjectName(objectName(identity, 64))).toBe(false);
    expect(isKeyObjectName(`${objectName(identity, 64)}@enam`)).toBe(false);
    expect(isKeyObjectName(relayName(identity))).toBe(false);
  });

  it("picks the relay by the key, among a fixed number", () => {
    expect(relayName(identity)).toBe(`mapping-relay-${0x1f % RELAY_COUNT}`);
    const relays = new Set<string>();
    for (let i = 0; i < 1000; i++) relays.add(relayName(i.toString(16).padStart(64, "0")));
    expect(relays.size).toBeLessThanOrEqual(RELAY_COUNT);
  });
});
