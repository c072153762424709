import { afterEach, describe, expect, it, vi } from "vitest";
import { IdempotencyCoordinator } from "../../src/coordinator/coordinator";
import {
  REGISTRY_TIMEOUT_MS,
  VERDICT_LEASE_MS,
  VERDICT_REFRESH_MS,
} from "../../src/coordinator/mapping-verdicts";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { relayName } from "../../src/coordinator/verdict-relay";
import {
  coordinatorOfKey,
  forgetVerdicts,
  held,
  newKey,
  originRequests,
  post,
  problemOf,
} from "./harness";

/**
 * The mapping registry is off the request path (docs/adr/0009): the object about to claim a key
 * checks its Worker's mapping against a verdict it keeps, renews it in the background, and only
 * waits for the registry when it holds none younger than the lease. What a registry outage does
 * is decided: claims go on for the rest of the lease, then new keys get `503 gateway-busy`;
 * replays never need the registry.
 */

/** Makes every call to the registry throw, until the test's mocks are restored. */
function breakRegistry(): void {
  vi.spyOn(IdempotencyCoordinator.prototype, "reportMapping").mockImplementation(() => {
    throw new Error("injected registry failure");
  });
}

/** Makes every call to the registry hang until `release`, then answer as usual. */
function hangRegistry(): { release: () => void } {
  const { until, release } = held();
  const original = IdempotencyCoordinator.prototype.reportMapping;
  vi.spyOn(IdempotencyCoordinator.prototype, "reportMapping").mockImplementation(function (
    this: IdempotencyCoordinator,
    report,
  ) {
    return until.then(() => original.call(this, report)) as unknown as ReturnType<typeof original>;
  });
  return { release };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** Moves the clock of this isolate (the Worker's and the objects') forward by `ms`. */
function advance(ms: number): void {
  const now = Date.now();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(now + ms);
}

describe("the mapping registry off the request path", () => {
  it("asks the registry once per object, however many keys the object claims", async () => {
    await forgetVerdicts();
    const calls = vi.spyOn(IdempotencyCoordinator.prototype, "reportMapping");
    const vars = { IDEMPOTENCY_SHARDS: "2" };
    const keys = Array.from({ length: 30 }, newKey);
    const statuses = await Promise.all(
      keys.map(async (key) => (await post("/v1/charges", key, { vars })).status),
    );
    expect(statuses.every((status) => status === 201)).toBe(true);
    expect(calls.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.mock.calls.length).toBeLessThanOrEqual(2);
  });

  it("with one object per key, asks through relays: twelve new keys that share a relay, one registry call", async () => {
    await forgetVerdicts();
    // Keys whose objects all ask the same relay (it is chosen by the key's identity).
    const keys: string[] = [];
    let relay: string | null = null;
    while (keys.length < 12) {
      const key = newKey();
      const { identity } = await coordinatorOfKey(key, { shards: 0 });
      relay ??= relayName(identity);
      if (relayName(identity) === relay) keys.push(key);
    }
    const calls = vi.spyOn(IdempotencyCoordinator.prototype, "reportMapping");
    const vars = { IDEMPOTENCY_SHARDS: "0" };
    for (const key of keys) {
      expect((await post("/v1/charges", key, { vars })).status).toBe(201);
    }
    // Twelve new objects, none with a verdict of its own: the relay asked once for all of them.
    expect(calls).toHaveBeenCalledTimes(1);
  });

  it("serves a first request at once while the registry hangs, on a verdict past its refresh age but within its lease", async () => {
    await forgetVerdicts();
    const vars = { IDEMPOTENCY_SHARDS: "1" };
    expect((await post("/v1/charges", newKey(), { vars })).status).toBe(201);
    const { release } = hangRegistry();
    try {
      advance(VERDICT_REFRESH_MS + 30_000);
      const key = newKey();
      const started = performance.now();
      const response = await post("/v1/charges", key, { vars });
      expect(response.status).toBe(201);
      // Renewed in the background: the request did not wait for the registry's deadline.
      expect(performance.now() - started).toBeLessThan(REGISTRY_TIMEOUT_MS);
      expect(await originRequests(key)).toHaveLength(1);
    } finally {
      release();
    }
  });

  it("serves first requests for the rest of the lease while the registry fails", async () => {
    await forgetVerdicts();
    const vars = { IDEMPOTENCY_SHARDS: "1" };
    expect((await post("/v1/charges", newKey(), { vars })).status).toBe(201);
    breakRegistry();
    {
      advance(VERDICT_LEASE_MS - 30_000);
      const key = newKey();
      expect((await post("/v1/charges", key, { vars })).status).toBe(201);
      expect(await originRequests(key)).toHaveLength(1);
    }
  });

  it("past the lease with the registry failing, refuses a new key with 503 gateway-busy, forwards nothing, and still replays stored answers", async () => {
    await forgetVerdicts();
    // Edge replays off: the replay below must come from the coordinator.
    const vars = { IDEMPOTENCY_SHARDS: "1", IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" };
    const stored = newKey();
    const first = await post("/v1/charges", stored, { vars });
    expect(first.status).toBe(201);
    breakRegistry();
    {
      advance(VERDICT_LEASE_MS + 1_000);
      const key = newKey();
      const refused = await post("/v1/charges", key, { vars });
      expect(refused.status).toBe(503);
      expect((await problemOf(refused)).code).toBe("gateway-busy");
      expect(refused.headers.get("retry-after")).not.toBeNull();
      expect(await originRequests(key)).toHaveLength(0);

      const replay = await post("/v1/charges", stored, { vars });
      expect(replay.status).toBe(201);
      expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
      expect(await originRequests(stored)).toHaveLength(1);
    }
  });

  it("when the registry hangs and the object holds no verdict, answers 503 gateway-busy after the registry's deadline, nothing forwarded, and the key stays free", async () => {
    await forgetVerdicts();
    const vars = { IDEMPOTENCY_SHARDS: "6" };
    const { release } = hangRegistry();
    const key = newKey();
    let refused: Response;
    try {
      refused = await post("/v1/charges", key, { vars });
    } finally {
      release();
    }
    expect(refused.status).toBe(503);
    expect((await problemOf(refused)).code).toBe("gateway-busy");
    expect(await originRequests(key)).toHaveLength(0);
    // Nothing was claimed: once the registry answers, the same key is a first request.
    advance(REGISTRY_TIMEOUT_MS);
    expect((await post("/v1/charges", key, { vars })).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });
});
