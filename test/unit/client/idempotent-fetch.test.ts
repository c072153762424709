import { describe, expect, it } from "vitest";
import {
  createIdempotentFetch,
  IdempotentFetchError,
  type IdempotentFetchOptions,
} from "../../../src/client";

const PAYMENTS_URL = "http://gateway.test/v1/payments";
const PAYMENT_BODY = JSON.stringify({ amount: 1000, currency: "usd" });
const GENERATED_KEY = "generated-key-1";
const CALLER_KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324";
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** What the fake gateway answers, one entry per attempt: a response, or an error to throw. */
type Step = Response | Error;

/** One attempt as the fake gateway saw it. */
interface SeenRequest {
  method: string;
  url: string;
  key: string | null;
  authorization: string | null;
  body: string;
}

/**
 * A fake gateway that plays `steps` in order and records every request, plus a fake clock that
 * only the fake sleep moves: tests never wait.
 */
function harness(steps: Step[], options: IdempotentFetchOptions = {}) {
  const seen: SeenRequest[] = [];
  const sleeps: number[] = [];
  let clock = 1_000_000;
  let keysGenerated = 0;
  const idempotentFetch = createIdempotentFetch({
    fetch: async (request) => {
      seen.push({
        method: request.method,
        url: request.url,
        key: request.headers.get("Idempotency-Key"),
        authorization: request.headers.get("Authorization"),
        body: await request.text(),
      });
      const step = steps.shift();
      if (step === undefined) throw new Error("the fake gateway has no more answers");
      if (step instanceof Error) throw step;
      return step;
    },
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    now: () => clock,
    random: () => 0.5,
    generateKey: () => {
      keysGenerated += 1;
      return GENERATED_KEY;
    },
    ...options,
  });
  const pay = (init: Parameters<typeof idempotentFetch>[1] = {}) =>
    idempotentFetch(PAYMENTS_URL, {
      method: "POST",
      headers: { Authorization: "Bearer sk_test_demo", "Content-Type": "application/json" },
      body: PAYMENT_BODY,
      ...init,
    });
  return { idempotentFetch, pay, seen, sleeps, keysGenerated: () => keysGenerated };
}

function created(headers: HeadersInit = {}) {
  return new Response(JSON.stringify({ id: "pay_1", amount: 1000 }), { status: 201, headers });
}

function status(code: number, headers: HeadersInit = {}) {
  return new Response(null, { status: code, headers });
}

/** An RFC 9457 error as the gateway produces it. */
function problem(code: string, statusCode: number, headers: HeadersInit = {}) {
  return new Response(
    JSON.stringify({
      type: `https://gateway.test/problems/${code}`,
      title: code,
      status: statusCode,
      detail: code,
      code,
    }),
    { status: statusCode, headers: { "Content-Type": "application/problem+json", ...headers } },
  );
}

function networkError() {
  return new TypeError("fetch failed");
}

describe("createIdempotentFetch", () => {
  describe("the key", () => {
    it("generates one key per call and sends it on every attempt", async () => {
      const h = harness([status(503), networkError(), created()]);
      const result = await h.pay();
      expect(h.seen.map((r) => r.key)).toEqual([GENERATED_KEY, GENERATED_KEY, GENERATED_KEY]);
      expect(h.keysGenerated()).toBe(1);
      expect(result.key).toBe(GENERATED_KEY);
    });

    it("uses a caller-given key verbatim and generates none", async () => {
      const h = harness([status(429), created()]);
      const result = await h.pay({ idempotencyKey: `"${CALLER_KEY}"` });
      expect(h.seen.map((r) => r.key)).toEqual([`"${CALLER_KEY}"`, `"${CALLER_KEY}"`]);
      expect(h.keysGenerated()).toBe(0);
      expect(result.key).toBe(`"${CALLER_KEY}"`);
    });

    it("uses an Idempotency-Key header already on the request", async () => {
      const h = harness([created()]);
      const request = new Request(PAYMENTS_URL, {
        method: "POST",
        headers: { "Idempotency-Key": CALLER_KEY },
        body: PAYMENT_BODY,
      });
      const result = await h.idempotentFetch(request);
      expect(h.seen[0]?.key).toBe(CALLER_KEY);
      expect(result.key).toBe(CALLER_KEY);
      expect(h.keysGenerated()).toBe(0);
    });

    it("gives each call its own generated key", async () => {
      let n = 0;
      const h = harness([created(), created()], { generateKey: () => `key-${++n}` });
      await h.pay();
      await h.pay();
      expect(h.seen.map((r) => r.key)).toEqual(["key-1", "key-2"]);
    });

    it("defaults to a random UUID", async () => {
      const seen: (string | null)[] = [];
      const idempotentFetch = createIdempotentFetch({
        fetch: async (request) => {
          seen.push(request.headers.get("Idempotency-Key"));
          return created();
        },
      });
      await idempotentFetch(PAYMENTS_URL, { method: "POST", body: PAYMENT_BODY });
      expect(seen[0]).toMatch(UUID_V4);
    });

    it("rejects an invalid key before sending anything", async () => {
      const h = harness([created()]);
      await expect(h.pay({ idempotencyKey: "café" })).rejects.toThrow(TypeError);
      await expect(h.pay({ idempotencyKey: "" })).rejects.toThrow(/1 to 255 printable ASCII/);
      await expect(h.pay({ idempotencyKey: "k".repeat(256) })).rejects.toThrow(TypeError);
      expect(h.seen).toEqual([]);
    });

    it("rejects a key that contradicts the request's Idempotency-Key header", async () => {
      const h = harness([created()]);
      const call = h.pay({
        idempotencyKey: "one",
        headers: { "Idempotency-Key": "two" },
      });
      await expect(call).rejects.toThrow(/differs/);
      expect(h.seen).toEqual([]);
    });
  });

  describe("which answers are retried", () => {
    it.each([409, 429, 502, 503])("retries a %i with the same key", async (code) => {
      const h = harness([status(code), created()]);
      const result = await h.pay({ idempotencyKey: CALLER_KEY });
      expect(result.response.status).toBe(201);
      expect(result.outcome).toBe("final");
      expect(result.attempts).toBe(2);
      expect(h.seen.map((r) => r.key)).toEqual([CALLER_KEY, CALLER_KEY]);
    });

    it("retries the gateway's 409 request-in-progress and 502 origin-unreachable", async () => {
      const h = harness([
        problem("request-in-progress", 409, { "Retry-After": "1" }),
        problem("origin-unreachable", 502),
        created({ "Idempotent-Replayed": "true" }),
      ]);
      const result = await h.pay();
      expect(result.attempts).toBe(3);
      expect(result.response.status).toBe(201);
    });

    it("retries a 504 that is not the gateway's origin-outcome-unknown, such as a proxy's", async () => {
      const h = harness([
        new Response("<html>Gateway Timeout</html>", {
          status: 504,
          headers: { "Content-Type": "text/html" },
        }),
        created(),
      ]);
      const result = await h.pay();
      expect(result.attempts).toBe(2);
      expect(result.outcome).toBe("final");
    });

    it.each([400, 401, 403, 404, 413, 422])("does NOT retry a %i", async (code) => {
      const h = harness([status(code), created()]);
      const result = await h.pay();
      expect(result.response.status).toBe(code);
      expect(result.outcome).toBe("final");
      expect(result.attempts).toBe(1);
      expect(h.seen).toHaveLength(1);
    });

    it("does NOT retry a 422 idempotency-key-reused, a bug in the client", async () => {
      const h = harness([problem("idempotency-key-reused", 422), created()]);
      const result = await h.pay();
      expect(result.outcome).toBe("final");
      expect(result.attempts).toBe(1);
      expect(await result.response.json()).toMatchObject({ code: "idempotency-key-reused" });
    });

    it("does NOT retry a 500, which the gateway stores and would replay unchanged", async () => {
      const h = harness([status(500), created()]);
      const result = await h.pay();
      expect(result.outcome).toBe("final");
      expect(result.attempts).toBe(1);
    });

    it("does NOT retry a replayed answer, whatever its status", async () => {
      const h = harness([status(409, { "Idempotent-Replayed": "true" }), created()]);
      const result = await h.pay();
      expect(result.response.status).toBe(409);
      expect(result.outcome).toBe("final");
      expect(result.replayed).toBe(true);
      expect(result.attempts).toBe(1);
    });

    it("retries network errors with the same key", async () => {
      const h = harness([networkError(), networkError(), created()]);
      const result = await h.pay({ idempotencyKey: CALLER_KEY });
      expect(result.response.status).toBe(201);
      expect(result.attempts).toBe(3);
      expect(h.seen.map((r) => r.key)).toEqual([CALLER_KEY, CALLER_KEY, CALLER_KEY]);
    });
  });

  describe("outcome-unknown", () => {
    it("reports a 504 origin-outcome-unknown as outcome unknown and does NOT retry it", async () => {
      const h = harness([problem("origin-outcome-unknown", 504), created()]);
      const result = await h.pay();
      expect(result.outcome).toBe("unknown");
      expect(result.attempts).toBe(1);
      expect(result.response.status).toBe(504);
    });

    it("leaves the 504 body readable for the caller", async () => {
      const h = harness([problem("origin-outcome-unknown", 504)]);
      const result = await h.pay();
      expect(await result.response.json()).toMatchObject({ code: "origin-outcome-unknown" });
    });

    it("reports a replayed origin-outcome-unknown as unknown too", async () => {
      const h = harness([
        problem("origin-outcome-unknown", 504, { "Idempotent-Replayed": "true" }),
      ]);
      const result = await h.pay();
      expect(result.outcome).toBe("unknown");
      expect(result.replayed).toBe(true);
    });

    it("reports an origin-outcome-unknown reached after retries", async () => {
      const h = harness([networkError(), problem("origin-outcome-unknown", 504)]);
      const result = await h.pay();
      expect(result.outcome).toBe("unknown");
      expect(result.attempts).toBe(2);
    });
  });

  describe("replays", () => {
    it("tells a replay from a first answer", async () => {
      const first = await harness([created()]).pay();
      const replay = await harness([created({ "Idempotent-Replayed": "true" })]).pay();
      expect(first.replayed).toBe(false);
      expect(replay.replayed).toBe(true);
      expect(replay.outcome).toBe("final");
    });

    it("reports the replay of the last attempt when an earlier one was lost", async () => {
      const h = harness([networkError(), created({ "Idempotent-Replayed": "true" })]);
      const result = await h.pay();
      expect(result.replayed).toBe(true);
      expect(result.attempts).toBe(2);
    });
  });

  describe("the request", () => {
    it("re-sends the same method, URL, headers and body bytes on every attempt", async () => {
      const h = harness([status(503), networkError(), created()]);
      await h.pay({ idempotencyKey: CALLER_KEY });
      expect(h.seen).toHaveLength(3);
      for (const attempt of h.seen) {
        expect(attempt).toEqual({
          method: "POST",
          url: PAYMENTS_URL,
          key: CALLER_KEY,
          authorization: "Bearer sk_test_demo",
          body: PAYMENT_BODY,
        });
      }
    });

    it("buffers a ReadableStream body once and re-sends it on every attempt", async () => {
      const bytes = new TextEncoder().encode(PAYMENT_BODY);
      let pulls = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulls += 1;
          controller.enqueue(bytes.slice(0, 10));
          controller.enqueue(bytes.slice(10));
          controller.close();
        },
      });
      const h = harness([status(503), created()]);
      await h.pay({ body: stream, duplex: "half" } as Parameters<typeof h.pay>[0]);
      expect(h.seen.map((r) => r.body)).toEqual([PAYMENT_BODY, PAYMENT_BODY]);
      expect(pulls).toBe(1);
    });

    it("re-sends the body of a Request given as input", async () => {
      const h = harness([networkError(), created()]);
      await h.idempotentFetch(new Request(PAYMENTS_URL, { method: "POST", body: PAYMENT_BODY }), {
        idempotencyKey: CALLER_KEY,
      });
      expect(h.seen.map((r) => r.body)).toEqual([PAYMENT_BODY, PAYMENT_BODY]);
    });

    it("rejects a GET with a body before sending anything", async () => {
      const h = harness([created()]);
      await expect(h.pay({ method: "GET" })).rejects.toThrow(TypeError);
      expect(h.seen).toEqual([]);
    });
  });

  describe("backoff and Retry-After", () => {
    it("waits with full jitter, doubling the ceiling up to the cap", async () => {
      const h = harness([status(503), status(503), status(503), status(503), created()], {
        baseDelayMs: 1_000,
        maxDelayMs: 5_000,
      });
      await h.pay();
      // random() is 0.5: half of 1000, 2000, 4000, then the 5000 cap.
      expect(h.sleeps).toEqual([500, 1_000, 2_000, 2_500]);
    });

    it("honours Retry-After in delay-seconds", async () => {
      const h = harness([status(429, { "Retry-After": "7" }), created()]);
      await h.pay();
      expect(h.sleeps).toEqual([7_000]);
    });

    it("honours Retry-After as an HTTP-date, relative to the injected clock", async () => {
      const now = Date.parse("Wed, 21 Oct 2026 07:28:00 GMT");
      let clock = now;
      const sleeps: number[] = [];
      const steps = [status(503, { "Retry-After": "Wed, 21 Oct 2026 07:28:12 GMT" }), created()];
      const idempotentFetch = createIdempotentFetch({
        fetch: async () => steps.shift() ?? created(),
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
      });
      await idempotentFetch(PAYMENTS_URL, { method: "POST", body: PAYMENT_BODY });
      expect(sleeps).toEqual([12_000]);
    });

    it("honours a Retry-After longer than the backoff cap", async () => {
      const h = harness([status(503, { "Retry-After": "30" }), created()], { maxDelayMs: 1_000 });
      await h.pay();
      expect(h.sleeps).toEqual([30_000]);
    });

    it("falls back to the backoff when Retry-After is not a valid value", async () => {
      const h = harness([status(503, { "Retry-After": "1.5" }), created()], { baseDelayMs: 100 });
      await h.pay();
      expect(h.sleeps).toEqual([50]);
    });

    it("passes the caller's signal to sleep so an abort ends the wait", async () => {
      const controller = new AbortController();
      const signals: (AbortSignal | undefined)[] = [];
      const h = harness([status(503), created()], {
        sleep: async (_ms, signal) => {
          signals.push(signal);
        },
      });
      await h.pay({ signal: controller.signal });
      expect(signals).toEqual([controller.signal]);
    });
  });

  describe("limits", () => {
    it("stops at maxAttempts and returns the last answer as retryable", async () => {
      const h = harness([status(503), status(503), status(503), created()], { maxAttempts: 3 });
      const result = await h.pay();
      expect(result.attempts).toBe(3);
      expect(result.outcome).toBe("retryable");
      expect(result.response.status).toBe(503);
      expect(h.seen).toHaveLength(3);
      expect(h.sleeps).toHaveLength(2);
    });

    it("makes exactly one attempt when maxAttempts is 1", async () => {
      const h = harness([status(503), created()], { maxAttempts: 1 });
      const result = await h.pay();
      expect(result.attempts).toBe(1);
      expect(h.sleeps).toEqual([]);
    });

    it("does NOT sleep past the deadline: it stops when the next wait would cross it", async () => {
      const h = harness(
        [status(503, { "Retry-After": "4" }), status(503, { "Retry-After": "4" }), created()],
        { deadlineMs: 6_000 },
      );
      const result = await h.pay();
      // 4 s fits in the 6 s deadline; a second 4 s wait would end at 8 s.
      expect(h.sleeps).toEqual([4_000]);
      expect(result.outcome).toBe("retryable");
      expect(result.attempts).toBe(2);
    });

    it("does NOT wait for a Retry-After that ends after the deadline", async () => {
      const h = harness([status(429, { "Retry-After": "120" }), created()], { deadlineMs: 60_000 });
      const result = await h.pay();
      expect(h.sleeps).toEqual([]);
      expect(result.outcome).toBe("retryable");
      expect(result.response.headers.get("Retry-After")).toBe("120");
    });

    it("counts time spent in attempts against the deadline", async () => {
      let clock = 0;
      const sleeps: number[] = [];
      const idempotentFetch = createIdempotentFetch({
        fetch: async () => {
          clock += 9_500; // a slow attempt: a 1 s wait would then end at 10.5 s
          return status(503);
        },
        now: () => clock,
        sleep: async (ms) => {
          sleeps.push(ms);
          clock += ms;
        },
        random: () => 0.5,
        baseDelayMs: 2_000,
        deadlineMs: 10_000,
      });
      const result = await idempotentFetch(PAYMENTS_URL, { method: "POST", body: PAYMENT_BODY });
      expect(sleeps).toEqual([]);
      expect(result.attempts).toBe(1);
    });

    it("throws an IdempotentFetchError with the key when every attempt failed on the network", async () => {
      const last = networkError();
      const h = harness([networkError(), networkError(), last], { maxAttempts: 3 });
      const error: unknown = await h.pay({ idempotencyKey: CALLER_KEY }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IdempotentFetchError);
      expect(error).toMatchObject({ key: CALLER_KEY, attempts: 3, cause: last });
      expect(h.seen).toHaveLength(3);
    });

    it("throws the last network error once the deadline leaves no room for a wait", async () => {
      const h = harness([networkError(), networkError()], { deadlineMs: 100, baseDelayMs: 1_000 });
      const error: unknown = await h.pay().catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "IdempotentFetchError", attempts: 1 });
      expect(h.sleeps).toEqual([]);
    });

    it.each([
      ["maxAttempts", 0],
      ["maxAttempts", 1.5],
      ["baseDelayMs", -1],
      ["maxDelayMs", Number.NaN],
      ["deadlineMs", -5],
    ] as const)("rejects %s = %s at construction, naming it", (name, value) => {
      expect(() => createIdempotentFetch({ [name]: value })).toThrow(new RegExp(`${name} must be`));
    });
  });

  describe("the caller's abort", () => {
    it("does NOT retry when the caller's signal aborted the attempt", async () => {
      const controller = new AbortController();
      let attempts = 0;
      const idempotentFetch = createIdempotentFetch({
        fetch: async (request) => {
          attempts += 1;
          controller.abort();
          expect(request.signal.aborted).toBe(true);
          throw new DOMException("The operation was aborted.", "AbortError");
        },
        sleep: async () => {},
      });
      const call = idempotentFetch(PAYMENTS_URL, {
        method: "POST",
        body: PAYMENT_BODY,
        signal: controller.signal,
      });
      await expect(call).rejects.toMatchObject({ name: "AbortError" });
      expect(attempts).toBe(1);
    });

    it("does NOT retry when the caller aborts during the wait", async () => {
      const controller = new AbortController();
      const h = harness([status(503), created()], {
        sleep: async (_ms, signal) => {
          controller.abort(new Error("caller gave up"));
          throw signal?.reason;
        },
      });
      await expect(h.pay({ signal: controller.signal })).rejects.toThrow("caller gave up");
      expect(h.seen).toHaveLength(1);
    });

    it("still retries a network error when the caller's signal did not abort", async () => {
      const controller = new AbortController();
      const h = harness([new DOMException("timed out", "TimeoutError"), created()]);
      const result = await h.pay({ signal: controller.signal });
      expect(result.attempts).toBe(2);
    });
  });
});
