import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { send, startSplitDeployment, type SplitDeployment } from "./harness";

/**
 * What a deploy of one Worker costs the requests in flight (docs/operations.md, "Deploying"; docs/adr/0010),
 * staged over real HTTP: the gateway and the coordinator Worker in two `wrangler dev` sessions
 * that find each other through a dev registry of their own, as they are deployed. Under load
 * (distinct keys sent by a bounded pool of clients, and origin calls held in flight at a gate of
 * the real test origin), one session is stopped with SIGTERM, as a deploy ends the old version,
 * and started again. A client that lost its answer sends the request again with the same key
 * once the session is back, as a client of the gateway does. Afterwards every key is sent once
 * more, and the origin's log and the admin list are read.
 *
 * - A gateway redeploy restarts no coordinator: the origin calls in flight finish in the objects
 *   that made them, every key reached the origin exactly once, and no record is unknown.
 * - A coordinator redeploy restarts the objects, and the calls they had in flight are lost: their
 *   records end unknown (409 while their lease runs, then 504), and are never forwarded twice.
 *
 * Both print their figures (run with `--silent=false` to see them); the README quotes them.
 */

/** Distinct keys per run. */
const KEYS = 300;
/** Of them, keys whose origin call is held at the gate while the session is redeployed. */
const HELD = 60;
/** Clients sending the other keys, one request at a time each. */
const CLIENTS = 16;
/** Keys (not held) answered before the redeploy starts; the rest are sent during and after it. */
const ANSWERED_BEFORE = 80;
/** An admin token as long as a production one should be (at least 32 characters). */
const ADMIN_TOKEN = `e2e-redeploy-${"a".repeat(32)}`;
/**
 * The gateway's settings: the admin token, and an origin timeout far past any restart on a slow
 * machine, so that a held call outlives the redeploy instead of timing out (which would be
 * `unknown` for another reason).
 */
const VARS = { ADMIN_TOKEN, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "120000" };
/** Attempts per key: each one after the redeploy it lost its answer to. */
const MAX_ATTEMPTS = 5;

/** An answer to a request sent through the gateway. */
interface Answer {
  status: number;
  replayed: boolean;
  /** Whether it is a problem document (the gateway's own answer). */
  problem: boolean;
  body: string;
}

/** What one run of load across a redeploy saw. */
interface Run {
  keys: string[];
  /** The path each key is sent on: gated for the held keys. */
  pathOf: Map<string, string>;
  /** Each key's first answer. */
  answers: Map<string, Answer>;
  /** Requests that got no answer of the contract: the connection lost or refused, or a 5xx not of the contract. */
  lost: number;
}

let origin: TestOrigin;
let deployment: SplitDeployment | undefined;

beforeAll(async () => {
  origin = await startTestOrigin();
});

afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});

afterAll(async () => {
  await origin?.close();
});

/**
 * The gateway's answer to `key` on `path`, or `null` when the connection was refused or lost
 * (before the answer, or in the middle of its body).
 */
async function attempt(split: SplitDeployment, path: string, key: string): Promise<Answer | null> {
  try {
    const response = await send(split.gateway, path, { key });
    return {
      status: response.status,
      replayed: response.headers.get("idempotent-replayed") === "true",
      problem: response.headers.get("content-type") === "application/problem+json",
      body: await response.text(),
    };
  } catch {
    return null;
  }
}

/**
 * Sends `KEYS` new keys through the deployment's gateway of the moment: `HELD` of them all at once
 * on a gated path, the others `CLIENTS` at a time. Once the held calls wait at the origin and
 * `ANSWERED_BEFORE` others are answered, runs `redeploy`, then releases the gate. A request that
 * got no answer is sent again with the same key once the redeploy has finished. Resolves when
 * every key has an answer.
 */
async function loadAcross(split: SplitDeployment, redeploy: () => Promise<unknown>): Promise<Run> {
  const gate = randomUUID();
  const keys = Array.from({ length: KEYS }, () => randomUUID());
  const pathOf = new Map(
    keys.map((key, i) => [key, i < HELD ? `/gate/${gate}/v1/charges` : "/v1/charges"]),
  );
  const run: Run = { keys, pathOf, answers: new Map(), lost: 0 };
  let redeployed: Promise<unknown> | null = null;
  let steadyAnswered = 0;
  let enoughAnswered = () => {};
  const answeredEnough = new Promise<void>((resolve) => (enoughAnswered = resolve));

  const sendUntilAnswered = async (key: string, held: boolean): Promise<void> => {
    for (let attempts = 1; attempts <= MAX_ATTEMPTS; attempts++) {
      const answer = await attempt(split, run.pathOf.get(key) ?? "", key);
      // No answer of the contract: a 500 is the gateway failing to reach its coordinator (its
      // detail says to retry), and a 5xx that is no problem document comes from wrangler's
      // proxy in front of a session going down.
      if (answer !== null && answer.status !== 500 && (answer.status < 500 || answer.problem)) {
        run.answers.set(key, answer);
        if (!held && ++steadyAnswered === ANSWERED_BEFORE) enoughAnswered();
        return;
      }
      run.lost++;
      if (redeployed === null) throw new Error(`key ${key} lost its answer before the redeploy`);
      await redeployed;
    }
    throw new Error(`key ${key} got no answer in ${MAX_ATTEMPTS} attempts`);
  };

  const held = keys.slice(0, HELD).map((key) => sendUntilAnswered(key, true));
  const queue = keys.slice(HELD);
  const clients = Array.from({ length: CLIENTS }, async () => {
    for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
      await sendUntilAnswered(key, false);
    }
  });
  const everyKey = Promise.all([...held, ...clients]);
  await Promise.race([
    Promise.all([origin.arrivals(gate, HELD), answeredEnough]),
    everyKey.then(() => {
      throw new Error("the load ended before the redeploy could start");
    }),
  ]);
  redeployed = redeploy();
  await redeployed;
  origin.release(gate);
  await everyKey;
  return run;
}

/**
 * Sends every key of `run` once more, on its path; resolves with each key's answer. Nothing is
 * being redeployed any more: a lost connection (a kept-alive one the server had just closed) is
 * tried again at once, and any answer is the key's.
 */
async function retryAll(split: SplitDeployment, run: Run): Promise<Map<string, Answer>> {
  const retries = new Map<string, Answer>();
  const queue = [...run.keys];
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        for (let attempts = 1; !retries.has(key); attempts++) {
          const answer = await attempt(split, run.pathOf.get(key) ?? "", key);
          if (answer !== null) retries.set(key, answer);
          else if (attempts === MAX_ATTEMPTS) throw new Error(`key ${key}: no connection`);
        }
      }
    }),
  );
  return retries;
}

/** A record as the admin list shows it (the fields read here). */
interface RecordSummary {
  keyHash: string;
  state: string;
}

/** Every record of the deployment in `state`, through the admin list, page by page. */
async function recordsIn(split: SplitDeployment, state: string): Promise<RecordSummary[]> {
  const records: RecordSummary[] = [];
  let cursor: string | null = null;
  do {
    const after: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await fetch(
      `${split.gateway.url}/__idempotency/keys?state=${state}&limit=200${after}`,
      { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
    );
    expect(response.status).toBe(200);
    const page = (await response.json()) as { records: RecordSummary[]; cursor: string | null };
    records.push(...page.records);
    cursor = page.cursor;
  } while (cursor !== null);
  return records;
}

/** How many answers have each status, e.g. `{ "201": 290, "409": 10 }`. */
function statuses(answers: Iterable<Answer>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

describe("a redeploy under load (the gateway and the coordinator Worker in two wrangler dev sessions)", () => {
  it("of the gateway restarts no coordinator: every key reaches the origin exactly once, none ends unknown, every retry gets the first answer", async () => {
    deployment = await startSplitDeployment(origin.url, VARS);
    const split = deployment;
    const { gateway, coordinator } = split;

    const run = await loadAcross(split, () => split.redeployGateway());
    // The same coordinator session throughout, and the new gateway where clients expect it.
    expect(split.coordinator).toBe(coordinator);
    expect(split.gateway).not.toBe(gateway);
    // The held requests lost their answers with the old gateway session, at least.
    expect(run.lost).toBeGreaterThanOrEqual(HELD);
    expect(statuses(run.answers.values())).toEqual({ 201: KEYS });

    const retries = await retryAll(split, run);
    const doubles = run.keys.filter((key) => origin.requests(key).length !== 1);
    expect(doubles).toEqual([]);
    for (const key of run.keys) {
      const retry = retries.get(key);
      expect(retry?.status).toBe(201);
      expect(retry?.replayed).toBe(true);
      expect(retry?.body).toBe(run.answers.get(key)?.body);
    }
    expect(await recordsIn(split, "unknown")).toEqual([]);
    expect(await recordsIn(split, "in_flight")).toEqual([]);
    console.log(
      `gateway redeploy: ${KEYS} keys (${HELD} held at the origin during the redeploy), ` +
        `${run.lost} requests lost their answer and were sent again; ` +
        `origin calls per key ≠ 1: ${doubles.length}; unknown records: 0; ` +
        `retries answered with the first answer: ${retries.size}/${KEYS}`,
    );
  }, 120_000);

  it("of the coordinator loses the calls it had in flight: their records end unknown, and no key is forwarded twice", async () => {
    deployment = await startSplitDeployment(origin.url, VARS);
    const split = deployment;

    const run = await loadAcross(split, () => split.redeployCoordinator());
    const retries = await retryAll(split, run);

    const doubles = run.keys.filter((key) => origin.requests(key).length > 1);
    expect(doubles).toEqual([]);
    // An answered key was forwarded exactly once, and its answer kept across the restart (the
    // objects' storage is the coordinator session's --persist-to); the others were never
    // forwarded a second time.
    for (const key of run.keys) {
      const retry = retries.get(key);
      expect([201, 409, 504]).toContain(retry?.status);
      if (retry?.status !== 201) continue;
      expect(origin.requests(key)).toHaveLength(1);
      expect(retry.replayed).toBe(true);
      expect(retry.body).toBe(run.answers.get(key)?.body);
    }
    // Records left in flight by the old objects: 409 until their lease ends, then unknown. A
    // lease may end between the two listings (on a slow machine), so a record is counted once.
    const inFlight = await recordsIn(split, "in_flight");
    const unknown = await recordsIn(split, "unknown");
    const lostOutcomes = new Set([...inFlight, ...unknown].map((record) => record.keyHash)).size;
    expect(lostOutcomes).toBeGreaterThanOrEqual(HELD);
    expect(lostOutcomes).toBe(KEYS - (statuses(retries.values())[201] ?? 0));
    console.log(
      `coordinator redeploy: ${KEYS} keys (${HELD} held at the origin during the redeploy), ` +
        `${run.lost} requests lost their answer and were sent again; ` +
        `records left in flight or unknown (they end unknown): ${lostOutcomes} ` +
        `(${inFlight.length} in flight, ${unknown.length} unknown); ` +
        `retries: ${JSON.stringify(statuses(retries.values()))}; origin calls per key > 1: ${doubles.length}`,
    );
  }, 120_000);
});
