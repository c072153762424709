import {
  createExecutionContext,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ALARM_BACKLOG_MS,
  ALARM_BATCH_ROWS,
  IdempotencyCoordinator,
} from "../../src/coordinator/coordinator";
import { coordinatorDeadlineMs } from "../../src/coordinator/deadline";
import worker from "../../src/index";
import { parseConfig, type Config } from "../../src/config/config";
import { settingsFor } from "../../src/config/routes";
import { policyOf } from "../../src/coordinator/protocol";
import { ORIGIN, coordinatorOfKey, held, newKey, originRequests, post, problemOf } from "./harness";

/**
 * Work that is bounded or cannot get stuck (docs/security.md, "Bounds"): the alarm deletes in batches, the
 * Worker's call to its coordinator has a deadline, a failure before the origin call releases the
 * key, and moved markers are collected even by an object that claims nothing.
 */

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const count = (stub: DurableObjectStub<IdempotencyCoordinator>, table: string) =>
  runInDurableObject(
    stub,
    (_, state) =>
      state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).one().n,
  );

describe("the garbage-collecting alarm", () => {
  it(`deletes at most ${ALARM_BATCH_ROWS} expired records a run, and comes back ${ALARM_BACKLOG_MS} ms later while a backlog remains`, async () => {
    const stub = env.COORDINATOR.getByName("alarm-backlog-test");
    const backlog = ALARM_BATCH_ROWS * 2 + 500;
    const past = Date.now() - 1_000;
    await runInDurableObject(stub, async (_, state) => {
      // A backlog as a long outage of the alarm would leave it: expired rows, one with a chunk.
      for (let i = 0; i < backlog; i++) {
        state.storage.sql.exec(
          "INSERT INTO records (identity, fingerprint, state, created_at, expires_at, lease_until) VALUES (?, 'f', 'completed', ?, ?, ?)",
          `expired-${i}`,
          past - 10_000,
          past - i,
          past - 5_000,
        );
      }
      state.storage.sql.exec(
        "INSERT INTO chunks (identity, seq, data) VALUES ('expired-0', 1, x'00')",
      );
      await state.storage.setAlarm(past);
    });
    const expected = [backlog - ALARM_BATCH_ROWS, backlog - 2 * ALARM_BATCH_ROWS, 0];
    for (const left of expected) {
      const before = Date.now();
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await count(stub, "records")).toBe(left);
      const next = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
      if (left > 0) {
        expect(next).toBeGreaterThanOrEqual(before + ALARM_BACKLOG_MS);
        expect(next).toBeLessThanOrEqual(Date.now() + ALARM_BACKLOG_MS);
      } else expect(next).toBeNull();
    }
    expect(await count(stub, "chunks")).toBe(0);
  });

  it("collects moved markers in an object of one key that never claimed anything (one object per key, during a migration)", async () => {
    const key = newKey();
    // Shards 0 → 2: the old mapping's object is the key's own, which only redirects it.
    const vars = { IDEMPOTENCY_SHARDS: "2", IDEMPOTENCY_SHARDS_PREVIOUS: "0" };
    expect((await post("/v1/charges", key, { vars })).status).toBe(201);
    const { stub: old } = await coordinatorOfKey(key, { shards: 0 });
    expect(await count(old, "records")).toBe(0);
    expect(await count(old, "moved")).toBe(1);
    const alarm = await runInDurableObject(old, (_, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime((alarm ?? 0) + 1);
    expect(await runDurableObjectAlarm(old)).toBe(true);
    expect(await count(old, "moved")).toBe(0);
    expect(await runDurableObjectAlarm(old)).toBe(false);
  });
});

describe("a failure before the origin call", () => {
  it("releases the key: nothing was sent, so the retry is forwarded (once), never answered unknown", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_SHARDS: "0" };
    const { stub, identity } = await coordinatorOfKey(key, { shards: 0 });
    // Fault injection in the real object: arming its alarm fails, after the claim.
    await runInDurableObject(stub, (_, state) => {
      vi.spyOn(state.storage, "setAlarm").mockRejectedValueOnce(new Error("injected failure"));
    });
    const failed = await post("/v1/charges", key, { vars });
    expect(failed.status).toBe(500);
    expect(await originRequests(key)).toHaveLength(0);
    expect(await stub.lookup(identity)).toBeNull();

    const retry = await post("/v1/charges", key, { vars });
    expect(retry.status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("the Worker's deadline on its coordinator", () => {
  it("answers 504 origin-outcome-unknown when the coordinator does not answer in time, stores nothing, and the retry gets the outcome", async () => {
    const key = newKey();
    const vars = {
      IDEMPOTENCY_SHARDS: "7",
      IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000",
      IDEMPOTENCY_WAIT_MS: "1000",
      IDEMPOTENCY_TTL_SECONDS: "60",
      IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0",
    };
    // The object answers nothing until released, as a stuck or overloaded one would.
    const { until, release } = held();
    const original = IdempotencyCoordinator.prototype.execute;
    vi.spyOn(IdempotencyCoordinator.prototype, "execute").mockImplementationOnce(function (
      this: IdempotencyCoordinator,
      command,
    ) {
      return until.then(() => original.call(this, command));
    });
    const started = performance.now();
    // Not through `post`, which also waits for the request's `waitUntil` work: that work is the
    // held coordinator call itself.
    const ctx = createExecutionContext();
    const request = new Request("https://api.example.com/v1/charges", {
      method: "POST",
      headers: { authorization: "Bearer sk_test_a", "idempotency-key": key },
      body: '{"amount":1000}',
    });
    let late: Response;
    try {
      late = await worker.fetch(
        request as Parameters<typeof worker.fetch>[0],
        { ...env, ...vars } as Env,
        ctx,
      );
    } finally {
      release();
    }
    await waitOnExecutionContext(ctx);
    const deadline = coordinatorDeadlineMs({ originTimeoutMs: 1000, waitMs: 1000 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(deadline - 50);
    expect(late.status).toBe(504);
    expect((await problemOf(late)).code).toBe("origin-outcome-unknown");
    // The command went on once the object was free: the coordinator settled the key, and the
    // retry gets that outcome.
    const retry = await post("/v1/charges", key, { vars });
    expect(retry.status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

/** The configuration the test Worker runs with. */
function config(): Config {
  const parsed = parseConfig({ ORIGIN_URL: ORIGIN });
  if (!parsed.ok) throw new Error(parsed.error.detail);
  return parsed.config;
}

describe("a request that cannot be sent", () => {
  it("releases its key in the coordinator and answers 500 internal-error: the key is never burned as unknown", async () => {
    const key = newKey();
    const { stub, identity } = await coordinatorOfKey(key, { shards: 0 });
    const command = {
      identity,
      fingerprint: "f".repeat(64),
      // A body on a GET: the runtime refuses to build the request, so nothing is sent.
      request: {
        url: `${ORIGIN}/q/1`,
        method: "GET",
        headers: [] as [string, string][],
        body: new TextEncoder().encode("{}"),
      },
      policy: policyOf(settingsFor(config(), "/q/1"), ORIGIN),
    };
    const reply = await stub.execute(command);
    expect(reply).toMatchObject({ kind: "problem", problem: { code: "internal-error" } });
    expect(await stub.lookup(identity)).toBeNull();
  });
});
