import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway } from "./harness";

/**
 * Settling an unknown outcome by re-forwarding, over real HTTP against `wrangler dev` (README,
 * "Settling an unknown outcome by re-forwarding"; docs/adr/0011). The origin's `/dedupe/<gate>`
 * deduplicates on `Idempotency-Key` like a payment API and holds its first execution at the
 * gate, so the charge is made after the gateway's origin timeout has given up on it.
 */

/** The gate (and path) of the route that keeps the default, `fail-closed`. */
const FAIL_CLOSED_GATE = "closed";
/** The gate (and path) of the route whose origin honours a key for 2 s only. */
const SHORT_WINDOW_GATE = "short";
const SHORT_WINDOW_SECONDS = 2;
/** How long the test polls for the short window to end: well past it. */
const POLL_LIMIT_MS = 15_000;

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, {
    IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300",
    IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
    IDEMPOTENCY_ORIGIN_KEY_SECONDS: "600",
    IDEMPOTENCY_ROUTES: JSON.stringify({
      [`/dedupe/${FAIL_CLOSED_GATE}`]: {
        IDEMPOTENCY_UNKNOWN_OUTCOME: "fail-closed",
        IDEMPOTENCY_ORIGIN_KEY_SECONDS: "",
      },
      [`/dedupe/${SHORT_WINDOW_GATE}`]: {
        IDEMPOTENCY_ORIGIN_KEY_SECONDS: String(SHORT_WINDOW_SECONDS),
      },
    }),
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** The first attempt: the origin holds it at `gate`, the gateway gives up after 300 ms. */
async function timedOut(gate: string, key: string): Promise<void> {
  const first = await send(gateway, `/dedupe/${gate}`, { key });
  expect(first.status).toBe(504);
  expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
  await origin.arrivals(gate, 1);
}

describe("an origin that answers after the gateway's timeout (wrangler dev)", () => {
  it("under reforward, gives the client's retry the charge the origin made, executed once", async () => {
    const key = randomUUID();
    const gate = randomUUID();
    await timedOut(gate, key);

    // Still executing: the origin's 409 is not stored, and the client is told to come back.
    const early = await send(gateway, `/dedupe/${gate}`, { key });
    expect(early.status).toBe(409);
    expect(early.headers.get("retry-after")).not.toBeNull();
    expect((await problemOf(early)).code).toBe("request-in-progress");

    origin.release(gate);
    const retry = await send(gateway, `/dedupe/${gate}`, { key });
    expect(retry.status).toBe(201);
    const charge = await retry.text();
    expect(JSON.parse(charge)).toMatchObject({ key });
    const replay = await send(gateway, `/dedupe/${gate}`, { key });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(charge);

    expect(origin.executions(key)).toBe(1);
    expect(origin.requests(key)).toHaveLength(3);
  });

  it("under fail-closed, answers 504 to the retry and does NOT forward it again", async () => {
    const key = randomUUID();
    await timedOut(FAIL_CLOSED_GATE, key);
    origin.release(FAIL_CLOSED_GATE);
    const retry = await send(gateway, `/dedupe/${FAIL_CLOSED_GATE}`, { key });
    expect(retry.status).toBe(504);
    expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    expect(origin.requests(key)).toHaveLength(1);
    expect(origin.executions(key)).toBe(1);
  });

  it("past IDEMPOTENCY_ORIGIN_KEY_SECONDS, answers 504 and forwards no more", async () => {
    const key = randomUUID();
    const started = Date.now();
    await timedOut(SHORT_WINDOW_GATE, key);
    // Inside the window each retry is re-forwarded and meets the first execution (409); once a
    // re-forward could end past the window, the record fails closed.
    let answer = await send(gateway, `/dedupe/${SHORT_WINDOW_GATE}`, { key });
    while (answer.status === 409 && Date.now() - started < POLL_LIMIT_MS) {
      await answer.arrayBuffer();
      answer = await send(gateway, `/dedupe/${SHORT_WINDOW_GATE}`, { key });
    }
    expect(answer.status).toBe(504);
    expect((await problemOf(answer)).code).toBe("origin-outcome-unknown");
    expect(Date.now() - started).toBeGreaterThanOrEqual(SHORT_WINDOW_SECONDS * 1000 - 300);
    const forwarded = origin.requests(key).length;

    origin.release(SHORT_WINDOW_GATE);
    const after = await send(gateway, `/dedupe/${SHORT_WINDOW_GATE}`, { key });
    expect(after.status).toBe(504);
    expect(origin.requests(key)).toHaveLength(forwarded);
    expect(origin.executions(key)).toBe(1);
  });
});
