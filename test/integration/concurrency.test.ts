import { afterEach, describe, expect, it, vi } from "vitest";
import { IdempotencyCoordinator } from "../../src/coordinator/coordinator";
import type { ExecuteCommand } from "../../src/coordinator/protocol";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  coordinatorOfKey,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
  type Vars,
} from "./harness";

const DUPLICATES = 200;

async function raceDuplicates(vars: Vars) {
  const key = newKey();
  const gate = newKey();
  const all = Array.from({ length: DUPLICATES }, () =>
    post(`/gate/${gate}/v1/charges`, key, { vars }),
  );
  // The first request is held at the origin until every duplicate has been sent.
  await originArrivals(gate, 1);
  await releaseGate(gate);
  const responses = await Promise.all(all);
  const bodies = await Promise.all(responses.map((r) => r.text()));
  return { key, responses, bodies };
}

/**
 * Resolves once the coordinator has taken `count` requests for `identity` in: `execute` decides
 * synchronously (forward, join, replay or refuse) before it returns, so when it has returned for
 * a duplicate, that duplicate has already joined, or been answered. The coordinator runs in this
 * isolate, so its prototype can be watched from here; the behaviour itself is untouched.
 */
function coordinatorTookIn(identity: string, count: number): Promise<void> {
  const execute = IdempotencyCoordinator.prototype.execute;
  let taken = 0;
  return new Promise((resolve) => {
    vi.spyOn(IdempotencyCoordinator.prototype, "execute").mockImplementation(function (
      this: IdempotencyCoordinator,
      command: ExecuteCommand,
    ) {
      const reply = execute.call(this, command);
      if (command.identity === identity && ++taken === count) resolve();
      return reply;
    });
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("concurrent duplicates", () => {
  it(`make ${DUPLICATES - 1} duplicates join the first request while it is at the origin: 1 forwarded, ${DUPLICATES - 1} coalesced, none replayed`, async () => {
    const key = newKey();
    const gate = newKey();
    const { identity } = await coordinatorOfKey(key);
    const writeDataPoint = vi.fn<(point?: AnalyticsEngineDataPoint) => void>();
    const vars = { METRICS: { writeDataPoint } };
    const allTakenIn = coordinatorTookIn(identity, DUPLICATES);
    const all = Array.from({ length: DUPLICATES }, () =>
      post(`/gate/${gate}/v1/charges`, key, { vars }),
    );
    // The first is held at the origin; every other one has been decided while it is held.
    await originArrivals(gate, 1);
    await allTakenIn;
    await releaseGate(gate);
    const responses = await Promise.all(all);
    // One data point per request; a reachability probe before the forward writes its own.
    const outcomes = writeDataPoint.mock.calls
      .map(([point]) => point?.indexes?.[0])
      .filter((index) => index !== "probe");
    const count = (outcome: string) => outcomes.filter((o) => o === outcome).length;
    expect(outcomes).toHaveLength(DUPLICATES);
    expect(count("forwarded")).toBe(1);
    expect(count("coalesced")).toBe(DUPLICATES - 1);
    expect(count("replayed")).toBe(0);
    expect(responses.map((r) => r.status)).toEqual(Array.from(all, () => 201));
    const bodies = new Set(await Promise.all(responses.map((r) => r.text())));
    expect(bodies.size).toBe(1);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it(`forward ${DUPLICATES} simultaneous duplicates to the origin exactly once, and give all the same answer`, async () => {
    const { key, responses, bodies } = await raceDuplicates({});
    expect(await originRequests(key)).toHaveLength(1);
    expect(new Set(responses.map((r) => r.status))).toEqual(new Set([201]));
    expect(new Set(bodies).size).toBe(1);
    const firsts = responses.filter((r) => r.headers.get(REPLAYED_HEADER) === null);
    expect(firsts).toHaveLength(1);
  });

  it.each(["0", "4"])("forward exactly once with IDEMPOTENCY_SHARDS=%s", async (shards) => {
    const { key, responses, bodies } = await raceDuplicates({ IDEMPOTENCY_SHARDS: shards });
    expect(await originRequests(key)).toHaveLength(1);
    expect(responses.every((r) => r.status === 201)).toBe(true);
    expect(new Set(bodies).size).toBe(1);
  });

  it("answer 409 request-in-progress at once, with Retry-After, when concurrency is reject", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = { IDEMPOTENCY_CONCURRENCY: "reject" };
    const first = post(`/gate/${gate}/v1/charges`, key, { vars });
    await originArrivals(gate, 1);
    const duplicate = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await problemOf(duplicate)).code).toBe("request-in-progress");
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answer 409 request-in-progress to a duplicate that waited longer than IDEMPOTENCY_WAIT_MS", async () => {
    const key = newKey();
    const gate = newKey();
    const vars = { IDEMPOTENCY_WAIT_MS: "20" };
    const first = post(`/gate/${gate}/v1/charges`, key, { vars });
    await originArrivals(gate, 1);
    const duplicate = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).toMatch(/^\d+$/);
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    const later = await post(`/gate/${gate}/v1/charges`, key, { vars });
    expect(later.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answer 422 to a different request with the key while the first is still in flight, and do NOT forward it", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const other = await post(`/gate/${gate}/v1/charges`, key, { body: '{"amount":2000}' });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe("idempotency-key-reused");
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });
});
