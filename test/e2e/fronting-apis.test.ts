import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway, startGateways } from "./harness";
import { PAYPAL_ROUTES, SQUARE_ROUTES } from "../support/payment-api-routes";

/**
 * Fronting payment APIs (docs/providers.md, "Fronting common payment APIs", "Errors" › "In the fronted API's
 * own dialect", "Configuration" › "Per-route policy" and "Retry statuses by class") over real HTTP,
 * against two `wrangler dev` processes and a real origin: one with rules per operation for a
 * PayPal-like, a Square-like and a Checkout.com-like API (`IDEMPOTENCY_ROUTES`), one configured
 * as the README's Adyen section says. Requests carry `x-marker: <key>`, so the origin's log finds
 * them wherever the key travels.
 */

let origin: TestOrigin;
let routed: WranglerDev;
let adyen: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  [routed, adyen] = (await startGateways([
    startGateway(origin.url, {
      IDEMPOTENCY_ROUTES: JSON.stringify({
        ...PAYPAL_ROUTES,
        ...SQUARE_ROUTES,
        "/status/*": { IDEMPOTENCY_RETRY_STATUSES: "4xx" },
      }),
    }),
    startGateway(origin.url, {
      IDEMPOTENCY_METHODS: "POST",
      IDEMPOTENCY_SCOPE_HEADERS: "x-api-key",
      IDEMPOTENCY_TTL_SECONDS: "2678400",
      IDEMPOTENCY_ERROR_DIALECT: "adyen",
    }),
  ])) as [WranglerDev, WranglerDev];
});

afterAll(async () => {
  await Promise.all([routed, adyen].map((g) => g?.stop()));
  await origin?.close();
});

/** A PayPal-like call: the key in `PayPal-Request-Id` (none when `requestId` is null). */
function paypal(
  path: string,
  requestId: string | null,
  { marker = requestId ?? randomUUID(), headers = {} as Record<string, string> } = {},
) {
  const all: Record<string, string> = { "x-marker": marker, ...headers };
  if (requestId !== null) all["paypal-request-id"] = requestId;
  return send(routed, path, { body: '{"intent":"CAPTURE"}', headers: all });
}

/** A Square-like call: the key in the body's `idempotency_key`. */
function square(path: string, key: string, extra: object = {}, method = "POST") {
  const body = JSON.stringify({ idempotency_key: key, amount_money: { amount: 100 }, ...extra });
  return send(routed, path, { body, method, headers: { "x-marker": key } });
}

/** The RFC 9457 members and the Stripe-style envelope, which every dialect keeps. */
function expectProblemMembers(body: Record<string, unknown>, code: string, status: number) {
  expect(body).toMatchObject({
    type: `/__idempotency/problems/${code}`,
    status,
    code,
    error: { code, message: body.detail },
  });
  expect(typeof body.title).toBe("string");
  expect(String(body.detail).length).toBeGreaterThan(0);
}

describe("error dialects over HTTP (IDEMPOTENCY_ERROR_DIALECT)", () => {
  it("answers a PayPal-Request-Id reused on another order with 422 in PayPal's dialect, beside the problem+json members", async () => {
    const requestId = randomUUID();
    expect((await paypal("/v2/checkout/orders/ORDER-A/capture", requestId)).status).toBe(201);
    const reused = await paypal("/v2/checkout/orders/ORDER-B/capture", requestId);
    expect(reused.status).toBe(422);
    const body = await problemOf(reused);
    expectProblemMembers(body, "idempotency-key-reused", 422);
    expect(body).toMatchObject({
      error: { type: "idempotency_error" },
      name: "UNPROCESSABLE_ENTITY",
      message: body.detail,
      debug_id: "idempotency-gateway",
      details: [{ issue: "PAYPAL_REQUEST_ID_PREVIOUSLY_USED", description: body.detail }],
    });
    expect(origin.requests(requestId)).toHaveLength(1);
  });

  it("answers a Square idempotency_key reused with another body with 422 in Square's dialect, beside the problem+json members", async () => {
    const key = randomUUID();
    expect((await square("/v2/payments", key)).status).toBe(201);
    const reused = await square("/v2/payments", key, { amount_money: { amount: 999 } });
    expect(reused.status).toBe(422);
    const body = await problemOf(reused);
    expectProblemMembers(body, "idempotency-key-reused", 422);
    expect(body.errors).toEqual([
      { category: "INVALID_REQUEST_ERROR", code: "IDEMPOTENCY_KEY_REUSED", detail: body.detail },
    ]);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("answers a key reused with another body with 422 in Adyen's dialect, beside the problem+json members", async () => {
    const key = randomUUID();
    const headers = { "x-api-key": "AQE_test_key", authorization: "" };
    expect((await send(adyen, "/v71/payments", { key, headers })).status).toBe(201);
    const reused = await send(adyen, "/v71/payments", { key, headers, body: '{"amount":2}' });
    expect(reused.status).toBe(422);
    const body = await problemOf(reused);
    expectProblemMembers(body, "idempotency-key-reused", 422);
    expect(body).toMatchObject({
      status: 422,
      errorCode: "idempotency-key-reused",
      message: body.detail,
      errorType: "validation",
    });
    expect(origin.requests(key)).toHaveLength(1);
  });
});

describe("rules per operation over HTTP (IDEMPOTENCY_ROUTES with URLPattern paths)", () => {
  it("keys the create call (/v2/checkout/orders) by PayPal-Request-Id: one forward with the header as sent, then a replay", async () => {
    const requestId = randomUUID();
    const first = await paypal("/v2/checkout/orders", requestId);
    expect(first.status).toBe(201);
    const retry = await paypal("/v2/checkout/orders", requestId);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const seen = origin.requests(requestId);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["paypal-request-id"]).toBe(requestId);
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("keys the capture of any order (/v2/checkout/orders/:id/capture) by PayPal-Request-Id the same way", async () => {
    const requestId = randomUUID();
    const path = `/v2/checkout/orders/${randomUUID().slice(0, 8).toUpperCase()}/capture`;
    expect((await paypal(path, requestId)).status).toBe(201);
    const retry = await paypal(path, requestId);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(requestId)).toHaveLength(1);
  });

  it("proxies tracking (/:id/track, IDEMPOTENCY_KEY_FROM none) untouched and never stores it: two identical requests both reach the origin", async () => {
    const key = randomUUID();
    const marker = randomUUID();
    const track = () =>
      send(routed, "/v2/checkout/orders/5O190127TN364715T/track", {
        key,
        headers: { "paypal-request-id": key, "x-marker": marker },
      });
    const first = await track();
    expect(first.status).toBe(201);
    const again = await track();
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    expect(await again.text()).not.toBe(await first.text());
    const seen = origin.requests(marker);
    expect(seen).toHaveLength(2);
    // Untouched: the headers a covered route reads are forwarded as sent, nothing stripped.
    expect(seen[1]?.headers["idempotency-key"]).toBe(key);
    expect(seen[1]?.headers["paypal-request-id"]).toBe(key);
  });

  it("covers a keyed PUT update (/v2/orders/:order_id, IDEMPOTENCY_METHODS PUT): one forward, then a replay", async () => {
    const key = randomUUID();
    const first = await square("/v2/orders/ord_1", key, { order: { version: 1 } }, "PUT");
    expect(first.status).toBe(201);
    const retry = await square("/v2/orders/ord_1", key, { order: { version: 1 } }, "PUT");
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const seen = origin.requests(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe("PUT");
  });

  it("leaves a POST to that PUT-only route uncovered: two identical requests both reach the origin", async () => {
    const key = randomUUID();
    expect((await square("/v2/orders/ord_1", key)).status).toBe(201);
    const again = await square("/v2/orders/ord_1", key);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    expect(origin.requests(key)).toHaveLength(2);
  });
});

describe("retry statuses by class over HTTP (IDEMPOTENCY_RETRY_STATUSES=4xx on a route)", () => {
  it.each([400, 422])(
    "releases the key on %i, so the retry reaches the origin again",
    async (status) => {
      const key = randomUUID();
      expect((await send(routed, `/status/${status}`, { key })).status).toBe(status);
      const retry = await send(routed, `/status/${status}`, { key });
      expect(retry.status).toBe(status);
      expect(retry.headers.get("idempotent-replayed")).toBeNull();
      expect(origin.requests(key)).toHaveLength(2);
    },
  );

  it("keeps a 201 on that route: the retry is a byte-identical replay, one origin call", async () => {
    const key = randomUUID();
    const first = await send(routed, "/status/201", { key });
    expect(first.status).toBe(201);
    const retry = await send(routed, "/status/201", { key });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("keeps a 500 on that route too: only the 4xx class is released", async () => {
    const key = randomUUID();
    expect((await send(routed, "/status/500", { key })).status).toBe(500);
    const retry = await send(routed, "/status/500", { key });
    expect(retry.status).toBe(500);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(key)).toHaveLength(1);
  });
});

describe("refusals that forward nothing and leave the key usable", () => {
  it("answers a PayPal-Request-Id sent without Authorization with 400 missing-scope in PayPal's dialect; the key then works", async () => {
    const requestId = randomUUID();
    const refused = await paypal("/v2/checkout/orders", requestId, {
      headers: { authorization: "" },
    });
    expect(refused.status).toBe(400);
    const body = await problemOf(refused);
    expectProblemMembers(body, "missing-scope", 400);
    expect(body).toMatchObject({ name: "INVALID_REQUEST", details: [{ issue: "MISSING_SCOPE" }] });
    expect(String(body.detail)).toContain("authorization");
    expect(origin.requests(requestId)).toHaveLength(0);

    const scoped = await paypal("/v2/checkout/orders", requestId);
    expect(scoped.status).toBe(201);
    expect(scoped.headers.get("idempotent-replayed")).toBeNull();
    expect(origin.requests(requestId)).toHaveLength(1);
  });

  it("answers a key sent with Authorization but without X-API-Key with 400 missing-scope when X-API-Key is the scope", async () => {
    const key = randomUUID();
    const refused = await send(adyen, "/v71/payments", { key });
    expect(refused.status).toBe(400);
    const body = await problemOf(refused);
    expectProblemMembers(body, "missing-scope", 400);
    expect(body).toMatchObject({ errorCode: "missing-scope", errorType: "validation" });
    expect(String(body.detail)).toContain("x-api-key");
    expect(origin.requests(key)).toHaveLength(0);

    const scoped = await send(adyen, "/v71/payments", { key, headers: { "x-api-key": "AQE_k" } });
    expect(scoped.status).toBe(201);
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("answers a broken JSON body on a json: route with 400 malformed-body in Square's dialect; the key then works", async () => {
    const key = randomUUID();
    const refused = await send(routed, "/v2/payments", {
      body: `{"idempotency_key":"${key}","amount_money":{"amount":100}`,
      headers: { "x-marker": key },
    });
    expect(refused.status).toBe(400);
    const body = await problemOf(refused);
    expectProblemMembers(body, "malformed-body", 400);
    expect(body.errors).toEqual([
      { category: "INVALID_REQUEST_ERROR", code: "BAD_REQUEST", detail: body.detail },
    ]);
    expect(origin.requests(key)).toHaveLength(0);

    const first = await square("/v2/payments", key);
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const retry = await square("/v2/payments", key);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(key)).toHaveLength(1);
  });
});
