import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { patternBytes, startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway, startGateways } from "./harness";

/**
 * Every row of the README's outcome table and every error code, over HTTP, against real
 * `wrangler dev` processes (one per configuration) and a real origin.
 */

let origin: TestOrigin;
let main: WranglerDev; // defaults, with a short origin timeout, a small body limit, keys required
let reject: WranglerDev; // IDEMPOTENCY_CONCURRENCY=reject (keys optional: the default)
let shortWait: WranglerDev; // IDEMPOTENCY_WAIT_MS=100
let downOrigin: WranglerDev; // ORIGIN_URL names a port nothing listens on
let misconfigured: WranglerDev; // IDEMPOTENCY_TTL_SECONDS=soon

beforeAll(async () => {
  origin = await startTestOrigin();
  [main, reject, shortWait, downOrigin, misconfigured] = (await startGateways([
    startGateway(origin.url, {
      IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "500",
      IDEMPOTENCY_MAX_BODY_BYTES: "1024",
      IDEMPOTENCY_KEY_REQUIRED: "true",
    }),
    startGateway(origin.url, { IDEMPOTENCY_CONCURRENCY: "reject" }),
    startGateway(origin.url, { IDEMPOTENCY_WAIT_MS: "100" }),
    // Port 9 (discard): nothing listens on it here, so connections are refused.
    startGateway("http://127.0.0.1:9"),
    startGateway(origin.url, { IDEMPOTENCY_TTL_SECONDS: "soon" }),
  ])) as [WranglerDev, WranglerDev, WranglerDev, WranglerDev, WranglerDev];
});

afterAll(async () => {
  await Promise.all([main, reject, shortWait, downOrigin, misconfigured].map((g) => g?.stop()));
  await origin?.close();
});

describe("first request and retries", () => {
  it("forwards the first request once, with the bare key, and returns the origin's answer unchanged", async () => {
    const key = randomUUID();
    const response = await send(main, "/v1/charges?x=1", { key: `"${key}"` });
    expect(response.status).toBe(201);
    expect(response.headers.get("idempotent-replayed")).toBeNull();
    const seen = origin.requests(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["idempotency-key"]).toBe(key);
    expect(seen[0]?.query).toBe("x=1");
  });

  it("replays a finished request byte-identically, marked Idempotent-Replayed: true", async () => {
    const key = randomUUID();
    const first = await send(main, "/bytes/300000", { key });
    const firstBytes = new Uint8Array(await first.arrayBuffer());
    const retry = await send(main, "/bytes/300000", { key });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await retry.arrayBuffer())).toEqual(firstBytes);
    expect(firstBytes).toEqual(patternBytes(300_000));
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("replays a multi-MiB response byte-identically", async () => {
    const key = randomUUID();
    const size = 5 * 1024 * 1024 + 7;
    await (await send(main, `/bytes/${size}`, { key })).arrayBuffer();
    const retry = await send(main, `/bytes/${size}`, { key });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(new Uint8Array(await retry.arrayBuffer())).toEqual(patternBytes(size));
    expect(origin.requests(key)).toHaveLength(1);
  });
});

describe("concurrent duplicates", () => {
  it("wait for the first and get its answer: 50 duplicates, one origin call", async () => {
    const key = randomUUID();
    const gate = randomUUID();
    const all = Array.from({ length: 50 }, () => send(main, `/gate/${gate}/v1/charges`, { key }));
    await origin.arrivals(gate, 1);
    origin.release(gate);
    const responses = await Promise.all(all);
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(responses.every((r) => r.status === 201)).toBe(true);
    expect(new Set(bodies).size).toBe(1);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("get 409 request-in-progress with Retry-After past IDEMPOTENCY_WAIT_MS", async () => {
    const key = randomUUID();
    const gate = randomUUID();
    const first = send(shortWait, `/gate/${gate}/v1/charges`, { key });
    await origin.arrivals(gate, 1);
    const duplicate = await send(shortWait, `/gate/${gate}/v1/charges`, { key });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await problemOf(duplicate)).code).toBe("request-in-progress");
    origin.release(gate);
    expect((await first).status).toBe(201);
  });

  it("get 409 request-in-progress at once when IDEMPOTENCY_CONCURRENCY is reject", async () => {
    const key = randomUUID();
    const gate = randomUUID();
    const first = send(reject, `/gate/${gate}/v1/charges`, { key });
    await origin.arrivals(gate, 1);
    const duplicate = await send(reject, `/gate/${gate}/v1/charges`, { key });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).toMatch(/^\d+$/);
    origin.release(gate);
    expect((await first).status).toBe(201);
    expect(origin.requests(key)).toHaveLength(1);
  });
});

describe("a client that disconnects", () => {
  it("does not stop the origin call: the answer is stored and the retry gets it, with one origin call", async () => {
    const key = randomUUID();
    const gate = randomUUID();
    const client = new AbortController();
    const pendingFailed = send(main, `/gate/${gate}/v1/charges`, {
      key,
      signal: client.signal,
    }).then(
      () => false,
      () => true,
    );
    await origin.arrivals(gate, 1);
    client.abort();
    expect(await pendingFailed).toBe(true);
    origin.release(gate);
    const retry = await send(main, `/gate/${gate}/v1/charges`, { key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(key)).toHaveLength(1);
  });
});

describe("what is stored per origin answer", () => {
  it("releases the key on a retry status (503): the retry is forwarded again", async () => {
    const key = randomUUID();
    expect((await send(main, "/status/503", { key })).status).toBe(503);
    expect((await send(main, "/status/503", { key })).status).toBe(503);
    expect(origin.requests(key)).toHaveLength(2);
  });

  it("stores any other status (500) and replays it", async () => {
    const key = randomUUID();
    expect((await send(main, "/status/500", { key })).status).toBe(500);
    const retry = await send(main, "/status/500", { key });
    expect(retry.status).toBe(500);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("answers 504 origin-outcome-unknown past the origin timeout and keeps answering it", async () => {
    const key = randomUUID();
    const first = await send(main, "/hang", { key });
    expect(first.status).toBe(504);
    expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
    const retry = await send(main, "/hang", { key });
    expect(retry.status).toBe(504);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("answers 504 when the connection breaks after the request was sent", async () => {
    const key = randomUUID();
    expect((await send(main, "/reset", { key })).status).toBe(504);
    expect((await send(main, "/reset", { key })).status).toBe(504);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("releases the key with 502 origin-unreachable, from the first request to a down origin", async () => {
    // With no recent answer from the origin, the coordinator probes (HEAD) before sending.
    expect((await send(downOrigin, "/v1/charges", { key: randomUUID() })).status).toBe(502);
    const key = randomUUID();
    const response = await send(downOrigin, "/v1/charges", { key });
    expect(response.status).toBe(502);
    expect((await problemOf(response)).code).toBe("origin-unreachable");
    expect((await send(downOrigin, "/v1/charges", { key })).status).toBe(502);
  });
});

describe("bad input", () => {
  it("answers 400 missing-idempotency-key where keys are required, and forwards nothing", async () => {
    const marker = randomUUID();
    const response = await send(main, "/v1/charges", { headers: { "x-marker": marker } });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("missing-idempotency-key");
    expect(origin.requests(marker)).toHaveLength(0);
  });

  it("proxies a request without a key when keys are optional, the default: each one forwarded", async () => {
    const marker = randomUUID();
    const first = await send(reject, "/v1/charges", { headers: { "x-marker": marker } });
    const second = await send(reject, "/v1/charges", { headers: { "x-marker": marker } });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get("idempotent-replayed")).toBeNull();
    expect(origin.requests(marker)).toHaveLength(2);
  });

  it("answers 400 invalid-idempotency-key for a key of 256 characters", async () => {
    const response = await send(main, "/v1/charges", { key: "k".repeat(256) });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("invalid-idempotency-key");
  });

  it("answers 422 idempotency-key-reused for another body, and does not forward it", async () => {
    const key = randomUUID();
    await send(main, "/v1/charges", { key });
    const response = await send(main, "/v1/charges", { key, body: '{"amount":1}' });
    expect(response.status).toBe(422);
    const problem = await problemOf(response);
    expect(problem).toMatchObject({
      code: "idempotency-key-reused",
      status: 422,
      error: { type: "idempotency_error", code: "idempotency-key-reused" },
    });
    expect(String(problem.type)).toMatch(/idempotency-key-reused$/);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("answers 413 request-too-large, forwards nothing and leaves the key usable", async () => {
    const key = randomUUID();
    const big = await send(main, "/v1/charges", { key, body: "x".repeat(1025) });
    expect(big.status).toBe(413);
    expect((await problemOf(big)).code).toBe("request-too-large");
    expect(origin.requests(key)).toHaveLength(0);
    expect((await send(main, "/v1/charges", { key })).status).toBe(201);
  });

  it("answers 500 invalid-configuration naming the variable, on requests and on health", async () => {
    const key = randomUUID();
    const response = await send(misconfigured, "/v1/charges", { key });
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("IDEMPOTENCY_TTL_SECONDS");
    expect(origin.requests(key)).toHaveLength(0);
    expect((await fetch(`${misconfigured.url}/__idempotency/health`)).status).toBe(500);
  });

  it("proxies uncovered methods untouched and never stores them", async () => {
    const key = randomUUID();
    await send(main, "/v1/charges", { key, method: "PUT" });
    await send(main, "/v1/charges", { key, method: "PUT" });
    expect(origin.requests(key)).toHaveLength(2);
  });
});

describe("operations", () => {
  it("answers health with 200 JSON", async () => {
    const response = await fetch(`${main.url}/__idempotency/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});
