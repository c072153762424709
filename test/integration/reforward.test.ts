import { abortAllDurableObjects } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  ORIGIN,
  gateway,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
} from "./harness";

/**
 * `IDEMPOTENCY_UNKNOWN_OUTCOME=reforward` (docs/adr/0011): a retry that meets an outcome the
 * gateway could not see is forwarded again, with the same key, inside the origin's key window, and
 * the origin's own deduplication settles it. The origin's `/dedupe/<gate>` path deduplicates on
 * `Idempotency-Key` as Stripe does, and holds its first execution at the gate.
 */

/** The window of an origin that honours a key for an hour. */
const ORIGIN_KEY_SECONDS = 3600;

const REFORWARD = {
  IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300",
  IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
  IDEMPOTENCY_ORIGIN_KEY_SECONDS: String(ORIGIN_KEY_SECONDS),
  ADMIN_TOKEN: "test-admin-token-0123456789-abcdefghij",
} as const;

const FAIL_CLOSED = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300" } as const;

afterEach(() => {
  vi.useRealTimers();
});

/** How many times the origin's `/dedupe` executed `key` (not how many requests it got). */
async function originExecutions(key: string): Promise<number> {
  const response = await fetch(`${ORIGIN}/__control/executions?key=${encodeURIComponent(key)}`);
  return ((await response.json()) as { executions: number }).executions;
}

/** The record of `key` as the admin lookup shows it. */
async function lookup(key: string): Promise<Record<string, unknown>> {
  const response = await gateway(
    "/__idempotency/keys/lookup",
    {
      method: "POST",
      headers: {
        authorization: "Bearer test-admin-token-0123456789-abcdefghij",
        "content-type": "application/json",
      },
      body: JSON.stringify({ key, scope: { authorization: "Bearer sk_test_a" } }),
    },
    REFORWARD,
  );
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** A first request whose answer the gateway gives up on: `504`, the record `unknown`. */
async function timedOut(path: string, key: string, vars: Record<string, string>) {
  const first = await post(path, key, { vars });
  expect(first.status).toBe(504);
  expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
}

describe("an unknown outcome under reforward", () => {
  it("is forwarded again with the same key, settled by the origin, stored and then replayed", async () => {
    const key = newKey();
    const path = `/dedupe/${newKey()}`;
    await timedOut(path, key, REFORWARD);
    // The origin finishes the first attempt after the gateway gave up on it.
    await releaseGate(path.slice("/dedupe/".length));
    expect(await originExecutions(key)).toBe(1);

    const retry = await post(path, key, { vars: REFORWARD });
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
    const charge = await retry.text();
    expect(JSON.parse(charge)).toMatchObject({ key });

    const replay = await post(path, key, { vars: REFORWARD });
    expect(replay.status).toBe(201);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await replay.text()).toBe(charge);

    const seen = await originRequests(key);
    expect(seen).toHaveLength(2);
    // The same key where the client put it, on both attempts.
    expect(seen.map((request) => request.headers["idempotency-key"])).toEqual([key, key]);
    expect(await originExecutions(key)).toBe(1);
    const record = await lookup(key);
    expect(record.state).toBe("completed");
    expect(typeof record.reforwardedAt).toBe("string");
  });

  it("does NOT store the origin's 409 while it still works on the first attempt: 409 request-in-progress, still re-forwardable", async () => {
    const key = newKey();
    const gate = newKey();
    const path = `/dedupe/${gate}`;
    await timedOut(path, key, REFORWARD);

    const early = await post(path, key, { vars: REFORWARD });
    expect(early.status).toBe(409);
    expect(early.headers.get("retry-after")).not.toBeNull();
    expect((await problemOf(early)).code).toBe("request-in-progress");
    const record = await lookup(key);
    expect(record.state).toBe("unknown");
    expect(record.status).toBeNull();

    await releaseGate(gate);
    const later = await post(path, key, { vars: REFORWARD });
    expect(later.status).toBe(201);
    expect(JSON.parse(await later.text())).toMatchObject({ key });
    expect(await originRequests(key)).toHaveLength(3);
    expect(await originExecutions(key)).toBe(1);
  });

  it("stays unknown when the re-forward's outcome is unknown again, and is re-forwarded again", async () => {
    const key = newKey();
    await timedOut("/hang", key, REFORWARD);
    await timedOut("/hang", key, REFORWARD);
    expect((await lookup(key)).state).toBe("unknown");
    await timedOut("/hang", key, REFORWARD);
    expect(await originRequests(key)).toHaveLength(3);
  });

  it("sends one re-forward at a time: concurrent retries join it in memory", async () => {
    const key = newKey();
    const gate = newKey();
    const path = `/gate/${gate}/v1/charges`;
    await timedOut(path, key, { ...REFORWARD, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "2000" });
    const vars = { ...REFORWARD, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "30000" };
    const retries = Promise.all([post(path, key, { vars }), post(path, key, { vars })]);
    // The first attempt and one re-forward wait at the gate; the other retry joined.
    await originArrivals(gate, 2);
    await releaseGate(gate);
    const answers = await retries;
    expect(answers.map((answer) => answer.status)).toEqual([201, 201]);
    const replayed = answers.filter((answer) => answer.headers.get(REPLAYED_HEADER) === "true");
    expect(replayed).toHaveLength(1);
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("still answers a different request under the key with 422, and does NOT forward it", async () => {
    const key = newKey();
    const path = `/dedupe/${newKey()}`;
    await timedOut(path, key, REFORWARD);
    const other = await post(path, key, { vars: REFORWARD, body: '{"amount":2000}' });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe("idempotency-key-reused");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("keeps the record unknown when the origin answers the re-forward with a retry status: past the window a retry gets 504, never a second charge", async () => {
    const key = newKey();
    const gate = newKey();
    // The first attempt waits at the gate past the gateway's deadline; once the gate is open,
    // the origin answers 503 (a retry status) to the re-forward.
    const path = `/gate/${gate}/status/503`;
    await timedOut(path, key, REFORWARD);
    await releaseGate(gate);
    const busy = await post(path, key, { vars: REFORWARD });
    expect(busy.status).toBe(503);
    // The 503 tells nothing of the first attempt, which may have executed: not released.
    expect((await lookup(key)).state).toBe("unknown");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + ORIGIN_KEY_SECONDS * 1000);
    const late = await post(path, key, { vars: REFORWARD });
    expect(late.status).toBe(504);
    expect((await problemOf(late)).code).toBe("origin-outcome-unknown");
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("answers 504 once a re-forward could end past the origin's key window, and does NOT forward", async () => {
    const key = newKey();
    const gate = newKey();
    const path = `/dedupe/${gate}`;
    await timedOut(path, key, REFORWARD);
    await releaseGate(gate);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + ORIGIN_KEY_SECONDS * 1000);
    const late = await post(path, key, { vars: REFORWARD });
    expect(late.status).toBe(504);
    expect((await problemOf(late)).code).toBe("origin-outcome-unknown");
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("an unknown outcome under fail-closed (the default)", () => {
  it("answers 504 to every retry even after the origin finished, and does NOT forward again", async () => {
    const key = newKey();
    const gate = newKey();
    const path = `/dedupe/${gate}`;
    await timedOut(path, key, FAIL_CLOSED);
    await releaseGate(gate);
    const retry = await post(path, key, { vars: FAIL_CLOSED });
    expect(retry.status).toBe(504);
    expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    expect(await originRequests(key)).toHaveLength(1);
    expect(await originExecutions(key)).toBe(1);
  });
});

describe("a record left in flight by a crash, under reforward", () => {
  it("answers 409 while its lease runs, then is re-forwarded and settled by the origin", async () => {
    const key = newKey();
    const gate = newKey();
    const path = `/dedupe/${gate}`;
    const vars = { ...REFORWARD, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000" };
    // Handled from the start: it fails (a 500 from the Worker) while the test is still aborting
    // the object.
    const firstFailed = post(path, key, { vars }).then(
      (response) => response.status === 500,
      () => true,
    );
    await originArrivals(gate, 1);
    await abortAllDurableObjects();
    expect(await firstFailed).toBe(true);

    const during = await post(path, key, { vars });
    expect(during.status).toBe(409);
    expect(await originRequests(key)).toHaveLength(1);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10_000);
    // Past the lease no instance holds the call: re-forwarded, and the origin (still executing
    // the first attempt) says so.
    const stillWorking = await post(path, key, { vars });
    expect(stillWorking.status).toBe(409);
    expect((await problemOf(stillWorking)).code).toBe("request-in-progress");
    expect(await originRequests(key)).toHaveLength(2);

    await releaseGate(gate);
    const settled = await post(path, key, { vars });
    expect(settled.status).toBe(201);
    expect(JSON.parse(await settled.text())).toMatchObject({ key });
    expect(await originExecutions(key)).toBe(1);
  });
});
