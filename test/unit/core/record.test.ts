import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type KeyRecord,
  LEASE_GRACE_MS,
  type Reforward,
  claim,
  decide,
  mayReforward,
  reclaim,
} from "../../../src/core/record";

const NOW = 1_700_000_000_000;
const FINGERPRINT = "a".repeat(64);
const OTHER_FINGERPRINT = "b".repeat(64);
const TTL_MS = 86_400_000;
const ORIGIN_TIMEOUT_MS = 30_000;

/** A record created a minute ago and live for another day, in the given state. */
function recordIn(state: KeyRecord["state"], overrides: Partial<KeyRecord> = {}): KeyRecord {
  return {
    fingerprint: FINGERPRINT,
    state,
    createdAt: NOW - 60_000,
    expiresAt: NOW + TTL_MS,
    leaseUntil: NOW - 60_000 + ORIGIN_TIMEOUT_MS + LEASE_GRACE_MS,
    ...overrides,
  };
}

const STATES: readonly KeyRecord["state"][] = ["in_flight", "completed", "unknown"];

describe("decide", () => {
  it("forwards when there is no record", () => {
    expect(decide(null, FINGERPRINT, NOW, false)).toEqual({ kind: "forward" });
  });

  it.each(STATES)("forwards over an expired %s record this instance does not hold", (state) => {
    expect(decide(recordIn(state, { expiresAt: NOW }), FINGERPRINT, NOW, false)).toEqual({
      kind: "forward",
    });
    expect(decide(recordIn(state, { expiresAt: NOW - 1 }), OTHER_FINGERPRINT, NOW, false)).toEqual({
      kind: "forward",
    });
  });

  it("does NOT forward over an expired record still being forwarded by this instance", () => {
    const record = recordIn("in_flight", { expiresAt: NOW - 1 });
    expect(decide(record, FINGERPRINT, NOW, true)).toEqual({ kind: "join" });
    expect(decide(record, OTHER_FINGERPRINT, NOW, true)).toEqual({ kind: "mismatch" });
  });

  it("does NOT treat a record as expired one millisecond before its expiry", () => {
    expect(decide(recordIn("completed", { expiresAt: NOW + 1 }), FINGERPRINT, NOW, false)).toEqual({
      kind: "replay",
    });
  });

  it.each(STATES)("answers mismatch for another fingerprint on a %s record", (state) => {
    expect(decide(recordIn(state), OTHER_FINGERPRINT, NOW, false)).toEqual({ kind: "mismatch" });
  });

  it("answers mismatch for another fingerprint while the first request is in flight here", () => {
    expect(decide(recordIn("in_flight"), OTHER_FINGERPRINT, NOW, true)).toEqual({
      kind: "mismatch",
    });
  });

  it("joins the in-flight request this instance holds", () => {
    expect(decide(recordIn("in_flight"), FINGERPRINT, NOW, true)).toEqual({ kind: "join" });
  });

  it("replays a completed record", () => {
    expect(decide(recordIn("completed"), FINGERPRINT, NOW, false)).toEqual({ kind: "replay" });
  });

  it("answers unknown for an unknown record, and does NOT forward again", () => {
    expect(decide(recordIn("unknown"), FINGERPRINT, NOW, false)).toEqual({ kind: "unknown" });
  });

  it("answers unknown for an unknown record even after its lease has long passed", () => {
    expect(
      decide(recordIn("unknown", { leaseUntil: NOW - TTL_MS }), FINGERPRINT, NOW, false),
    ).toEqual({
      kind: "unknown",
    });
  });

  it.each<[string, number, number]>([
    ["a lease ending in 1 ms as 1 second", 1, 1],
    ["a lease ending in 999 ms as 1 second", 999, 1],
    ["a lease ending in exactly 1 s as 1 second", 1_000, 1],
    ["a lease ending in 1001 ms as 2 seconds (rounded up)", 1_001, 2],
    ["a lease ending in 35 s as 35 seconds", 35_000, 35],
  ])(
    "answers in-progress for an orphaned in-flight record, with %s",
    (_name, remainingMs, retryAfterSeconds) => {
      const record = recordIn("in_flight", { leaseUntil: NOW + remainingMs });
      expect(decide(record, FINGERPRINT, NOW, false)).toEqual({
        kind: "in-progress",
        retryAfterSeconds,
      });
    },
  );

  it.each([0, 1, 60_000])(
    "answers lease-expired for an orphaned in-flight record %i ms past its lease",
    (pastMs) => {
      const record = recordIn("in_flight", { leaseUntil: NOW - pastMs });
      expect(decide(record, FINGERPRINT, NOW, false)).toEqual({ kind: "lease-expired" });
    },
  );

  it("always asks a retry to wait at least 1 whole second, rounded up (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 * 60_000 }), (remainingMs) => {
        const decision = decide(
          recordIn("in_flight", { leaseUntil: NOW + remainingMs }),
          FINGERPRINT,
          NOW,
          false,
        );
        expect(decision.kind).toBe("in-progress");
        if (decision.kind !== "in-progress") return;
        expect(Number.isInteger(decision.retryAfterSeconds)).toBe(true);
        expect(decision.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(decision.retryAfterSeconds * 1000).toBeGreaterThanOrEqual(remainingMs);
        expect(decision.retryAfterSeconds * 1000 - remainingMs).toBeLessThan(1000);
      }),
    );
  });

  it("never forwards a live record's key again, whatever its state (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STATES),
        fc.integer({ min: 1, max: TTL_MS }),
        fc.integer({ min: -TTL_MS, max: TTL_MS }),
        fc.boolean(),
        fc.boolean(),
        (state, untilExpiry, untilLeaseEnd, sameFingerprint, inMemory) => {
          const record = recordIn(state, {
            expiresAt: NOW + untilExpiry,
            leaseUntil: NOW + untilLeaseEnd,
          });
          const decision = decide(
            record,
            sameFingerprint ? FINGERPRINT : OTHER_FINGERPRINT,
            NOW,
            inMemory,
          );
          expect(decision.kind).not.toBe("forward");
          if (!sameFingerprint) expect(decision.kind).toBe("mismatch");
        },
      ),
    );
  });
});

/** A Stripe-like origin: it honours a key for a day (created a minute ago: well inside it). */
const REFORWARD: Reforward = { originKeyMs: 86_400_000, originTimeoutMs: ORIGIN_TIMEOUT_MS };

describe("decide with reforward", () => {
  it("re-forwards a retry that meets an unknown record inside the origin's key window", () => {
    expect(decide(recordIn("unknown"), FINGERPRINT, NOW, false, REFORWARD)).toEqual({
      kind: "reforward",
    });
  });

  it("re-forwards an orphaned in-flight record once its lease has ended", () => {
    const record = recordIn("in_flight", { leaseUntil: NOW });
    expect(decide(record, FINGERPRINT, NOW, false, REFORWARD)).toEqual({ kind: "reforward" });
  });

  it("does NOT re-forward an orphaned in-flight record whose lease still runs", () => {
    const record = recordIn("in_flight", { leaseUntil: NOW + 1 });
    expect(decide(record, FINGERPRINT, NOW, false, REFORWARD)).toEqual({
      kind: "in-progress",
      retryAfterSeconds: 1,
    });
  });

  it("does NOT re-forward another fingerprint: it is still a mismatch", () => {
    expect(decide(recordIn("unknown"), OTHER_FINGERPRINT, NOW, false, REFORWARD)).toEqual({
      kind: "mismatch",
    });
  });

  it("joins a re-forward this instance holds instead of starting a second one", () => {
    expect(decide(recordIn("in_flight"), FINGERPRINT, NOW, true, REFORWARD)).toEqual({
      kind: "join",
    });
  });

  it.each(["completed", "in_flight"] as const)(
    "does NOT change what a %s record held here gets",
    (state) => {
      const record = recordIn(state, { leaseUntil: NOW + 1 });
      expect(decide(record, FINGERPRINT, NOW, false, REFORWARD)).toEqual(
        decide(record, FINGERPRINT, NOW, false),
      );
    },
  );

  it("fails closed once a re-forward could end past the origin's window", () => {
    const createdAt = NOW - REFORWARD.originKeyMs + ORIGIN_TIMEOUT_MS;
    expect(decide(recordIn("unknown", { createdAt }), FINGERPRINT, NOW, false, REFORWARD)).toEqual({
      kind: "reforward",
    });
    expect(
      decide(recordIn("unknown", { createdAt: createdAt - 1 }), FINGERPRINT, NOW, false, REFORWARD),
    ).toEqual({ kind: "unknown" });
    expect(
      decide(
        recordIn("in_flight", { createdAt: createdAt - 1, leaseUntil: NOW }),
        FINGERPRINT,
        NOW,
        false,
        REFORWARD,
      ),
    ).toEqual({ kind: "lease-expired" });
  });

  it("fails closed once a re-forward's lease could outlive the record (the TTL ends first)", () => {
    const expiresAt = NOW + ORIGIN_TIMEOUT_MS + LEASE_GRACE_MS;
    expect(decide(recordIn("unknown", { expiresAt }), FINGERPRINT, NOW, false, REFORWARD)).toEqual({
      kind: "reforward",
    });
    expect(
      decide(recordIn("unknown", { expiresAt: expiresAt - 1 }), FINGERPRINT, NOW, false, REFORWARD),
    ).toEqual({ kind: "unknown" });
  });

  it("never re-forwards where a call could end outside the window or the TTL (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: TTL_MS }),
        fc.integer({ min: 1, max: 2 * TTL_MS }),
        fc.integer({ min: 1_000, max: 2 * TTL_MS }),
        fc.integer({ min: 1, max: 900_000 }),
        fc.constantFrom<KeyRecord["state"]>("unknown", "in_flight"),
        (age, untilExpiry, originKeyMs, originTimeoutMs, state) => {
          const record = recordIn(state, {
            createdAt: NOW - age,
            expiresAt: NOW + untilExpiry,
            leaseUntil: NOW,
          });
          const decision = decide(record, FINGERPRINT, NOW, false, {
            originKeyMs,
            originTimeoutMs,
          });
          const fits =
            NOW + originTimeoutMs <= record.createdAt + originKeyMs &&
            NOW + originTimeoutMs + LEASE_GRACE_MS <= record.expiresAt;
          expect(decision.kind === "reforward").toBe(fits);
          expect(mayReforward(record, NOW, { originKeyMs, originTimeoutMs })).toBe(fits);
        },
      ),
    );
  });
});

describe("reclaim", () => {
  it("puts the record in flight again with a new lease, keeping its creation and expiry", () => {
    const record = recordIn("unknown");
    expect(reclaim(record, NOW, ORIGIN_TIMEOUT_MS)).toEqual({
      ...record,
      state: "in_flight",
      leaseUntil: NOW + ORIGIN_TIMEOUT_MS + LEASE_GRACE_MS,
    });
  });

  it("gives an orphaned duplicate of a re-forward in-progress during its new lease", () => {
    const record = reclaim(recordIn("unknown"), NOW, ORIGIN_TIMEOUT_MS);
    expect(decide(record, FINGERPRINT, NOW + 1, false, REFORWARD).kind).toBe("in-progress");
  });
});

describe("claim", () => {
  it("writes an in-flight record with the request's fingerprint, created now", () => {
    const record = claim(FINGERPRINT, NOW, TTL_MS, ORIGIN_TIMEOUT_MS);
    expect(record.fingerprint).toBe(FINGERPRINT);
    expect(record.state).toBe("in_flight");
    expect(record.createdAt).toBe(NOW);
  });

  it("expires the record after the TTL", () => {
    expect(claim(FINGERPRINT, NOW, TTL_MS, ORIGIN_TIMEOUT_MS).expiresAt).toBe(NOW + TTL_MS);
  });

  it("leases the key for the origin timeout plus LEASE_GRACE_MS", () => {
    expect(claim(FINGERPRINT, NOW, TTL_MS, ORIGIN_TIMEOUT_MS).leaseUntil).toBe(
      NOW + ORIGIN_TIMEOUT_MS + LEASE_GRACE_MS,
    );
  });

  it("keeps a lease of 5 seconds past the origin timeout", () => {
    expect(LEASE_GRACE_MS).toBe(5_000);
  });

  it("gives a fresh claim in-progress to an orphaned duplicate, and lease-expired once the lease ends", () => {
    const record = claim(FINGERPRINT, NOW, TTL_MS, ORIGIN_TIMEOUT_MS);
    expect(decide(record, FINGERPRINT, NOW, false)).toEqual({
      kind: "in-progress",
      retryAfterSeconds: (ORIGIN_TIMEOUT_MS + LEASE_GRACE_MS) / 1000,
    });
    expect(decide(record, FINGERPRINT, record.leaseUntil, false)).toEqual({
      kind: "lease-expired",
    });
  });

  it("computes expiry and lease from the values passed in (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 42 }),
        fc.integer({ min: 1_000, max: 365 * TTL_MS }),
        fc.integer({ min: 1, max: 900_000 }),
        (now, ttlMs, timeoutMs) => {
          expect(claim(FINGERPRINT, now, ttlMs, timeoutMs)).toEqual({
            fingerprint: FINGERPRINT,
            state: "in_flight",
            createdAt: now,
            expiresAt: now + ttlMs,
            leaseUntil: now + timeoutMs + LEASE_GRACE_MS,
          });
        },
      ),
    );
  });
});
