import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, startWranglerDev, type WranglerDev } from "../../harness/wrangler-dev.ts";
import { problemOf, send } from "./harness";

/**
 * An origin that is a Worker (docs/operations.md, "Deploying" › "An origin that is a Worker"), over real HTTP:
 * one `wrangler dev` session runs three Workers, the gateway (`fixtures/gateway-bound.wrangler.toml`:
 * the project's code, an `ORIGIN` service binding and no ORIGIN_URL), its coordinator Worker
 * (`fixtures/coordinator-bound.wrangler.toml`: the Durable Objects, which forward through their own
 * `ORIGIN` binding) and the origin Worker both bind (`fixtures/origin-worker.wrangler.toml`,
 * `fixtures/origin-worker.js`). The first `-c` config is served on the port; the others are
 * reachable only through the bindings. The origin Worker counts its own calls per tag (see its
 * header for why module state, and how a reload is caught); `GET /__origin/calls`, uncovered,
 * passes through the gateway to read them.
 */

const FIXTURES = path.join(PROJECT_ROOT, "test", "e2e", "fixtures");
const GATEWAY_CONFIG = path.join(FIXTURES, "gateway-bound.wrangler.toml");
const COORDINATOR_CONFIG = path.join(FIXTURES, "coordinator-bound.wrangler.toml");
const ORIGIN_WORKER_CONFIG = path.join(FIXTURES, "origin-worker.wrangler.toml");

/** The gateway, its coordinators and its origin Worker in one `wrangler dev` session, with a state folder of its own. */
async function startSession(vars: Record<string, string>): Promise<WranglerDev> {
  const state = mkdtempSync(path.join(tmpdir(), "idem-e2e-bound-"));
  const dev = await startWranglerDev({
    config: [GATEWAY_CONFIG, COORDINATOR_CONFIG, ORIGIN_WORKER_CONFIG],
    vars,
    persistTo: state,
  }).catch((error: unknown) => {
    rmSync(state, { recursive: true, force: true });
    throw error;
  });
  const stop = dev.stop;
  return {
    ...dev,
    stop: async () => {
      await stop();
      rmSync(state, { recursive: true, force: true });
    },
  };
}

/** The origin timeout of the `/hang` route: short, so the 504 comes quickly. */
const HANG_TIMEOUT_MS = 500;

let gateway: WranglerDev;
/** The origin Worker's isolate, read once: every count must come from it. */
let isolate: string;

/** How many calls the origin Worker received with `tag`, checked to come from the same isolate. */
async function callsOf(tag: string): Promise<number> {
  const response = await fetch(`${gateway.url}/__origin/calls?tag=${encodeURIComponent(tag)}`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as { isolate: string; calls: number };
  expect(body.isolate).toBe(isolate);
  return body.calls;
}

beforeAll(async () => {
  gateway = await startSession({
    IDEMPOTENCY_ROUTES: JSON.stringify({
      "/hang": { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: String(HANG_TIMEOUT_MS) },
    }),
  });
  const first = await fetch(`${gateway.url}/__origin/calls?tag=`);
  isolate = ((await first.json()) as { isolate: string }).isolate;
});

afterAll(async () => {
  await gateway?.stop();
});

describe("an origin Worker behind the ORIGIN service binding (wrangler dev, two Workers)", () => {
  it("calls the Worker with the URL as sent, then replays its answer byte-identically: one call", async () => {
    const key = randomUUID();
    const first = await send(gateway, "/v1/charges?expand=customer", { key });
    expect(first.status).toBe(201);
    expect(first.headers.get("x-served-by")).toBe("e2e-origin-worker");
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const body = await first.text();
    const charge = JSON.parse(body) as { isolate: string; url: string; body: string };
    expect(charge.isolate).toBe(isolate);
    // No ORIGIN_URL: the origin Worker sees the URL as the client sent it.
    expect(charge.url).toBe(`${gateway.url}/v1/charges?expand=customer`);
    expect(charge.body).toBe('{"amount":1000}');

    const retry = await send(gateway, "/v1/charges?expand=customer", { key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("x-served-by")).toBe("e2e-origin-worker");
    expect(await retry.text()).toBe(body);
    expect(await callsOf(key)).toBe(1);
  });

  it("does NOT probe the origin Worker: one that throws on HEAD / still gets a new key's request", async () => {
    // A fresh key lands on a coordinator that may never have reached the origin; a URL origin
    // would be probed (HEAD /) first, and this Worker's throw would read as "unreachable" (502).
    const keys = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    for (const key of keys) {
      expect((await send(gateway, "/v1/charges", { key })).status).toBe(201);
      expect(await callsOf(key)).toBe(1);
    }
    expect(await callsOf("probe")).toBe(0);
  });

  it.each([429, 503])(
    "releases the key when the origin Worker answers the retry status %i: the retry reaches it again",
    async (status) => {
      const key = randomUUID();
      const first = await send(gateway, `/status/${status}`, { key });
      expect(first.status).toBe(status);
      expect(first.headers.get("x-served-by")).toBe("e2e-origin-worker");
      const retry = await send(gateway, `/status/${status}`, { key });
      expect(retry.status).toBe(status);
      expect(retry.headers.get("idempotent-replayed")).toBeNull();
      expect(await callsOf(key)).toBe(2);
    },
  );

  it("fails closed when the origin Worker throws after acting: 504 origin-outcome-unknown, stored, never called again", async () => {
    const key = randomUUID();
    const first = await send(gateway, "/v1/charges/throw", { key });
    expect(first.status).toBe(504);
    const problem = await problemOf(first);
    expect(problem.code).toBe("origin-outcome-unknown");
    expect(String(problem.detail)).toContain("origin Worker");

    const retry = await send(gateway, "/v1/charges/throw", { key });
    expect(retry.status).toBe(504);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    // The Worker ran (and may have charged): a second call would have charged again.
    expect(await callsOf(key)).toBe(1);
  });

  it("answers 504 origin-outcome-unknown when the origin Worker does not answer within the origin timeout, and keeps answering it", async () => {
    const key = randomUUID();
    const started = Date.now();
    const first = await send(gateway, "/hang", { key });
    expect(first.status).toBe(504);
    const problem = await problemOf(first);
    expect(problem.code).toBe("origin-outcome-unknown");
    expect(String(problem.detail)).toContain(`${HANG_TIMEOUT_MS} ms`);
    // Decided by the route's timeout, not by the Worker's own 60 s answer.
    expect(Date.now() - started).toBeLessThan(30_000);

    const retry = await send(gateway, "/hang", { key });
    expect(retry.status).toBe(504);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await callsOf(key)).toBe(1);
  });

  it("passes an uncovered request through the binding untouched, storing nothing", async () => {
    const marker = randomUUID();
    const get = () =>
      fetch(`${gateway.url}/v1/charges/ch_1`, {
        headers: { authorization: "Bearer sk_test_e2e", "x-marker": marker },
      });
    const first = await get();
    expect(first.status).toBe(201);
    expect(first.headers.get("x-served-by")).toBe("e2e-origin-worker");
    await first.arrayBuffer();
    const again = await get();
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    await again.arrayBuffer();
    expect(await callsOf(marker)).toBe(2);
  });
});
