import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
  type Vars,
} from "./harness";
import { PAYPAL_ROUTES, SQUARE_ROUTES } from "../support/payment-api-routes";

/**
 * Fronting real payment APIs (docs/providers.md, "Fronting common payment APIs"): rules per operation
 * (`IDEMPOTENCY_ROUTES` with URLPattern paths), the key where each API puts it, retry statuses by
 * class, and refusals in the API's own error dialect — through the real Worker and coordinator,
 * against the real loopback origin. Requests carry `x-marker: <key>` so the origin's log finds
 * them whatever header the key travels in.
 */

/** PayPal Orders v2: create and capture carry `PayPal-Request-Id`; tracking has no key. */
const PAYPAL: Vars = { IDEMPOTENCY_ROUTES: JSON.stringify(PAYPAL_ROUTES) };

function paypal(path: string, requestId: string | null, body = '{"intent":"CAPTURE"}') {
  const headers: Record<string, string> = { "x-marker": requestId ?? "no-request-id" };
  if (requestId !== null) headers["paypal-request-id"] = requestId;
  return post(path, null, { body, headers, vars: PAYPAL });
}

describe("rules per operation (a PayPal-like API)", () => {
  it("keys the create call by PayPal-Request-Id: one order, then replays, the header forwarded as sent", async () => {
    const requestId = newKey();
    const first = await paypal("/v2/checkout/orders", requestId);
    expect(first.status).toBe(201);
    const retry = await paypal("/v2/checkout/orders", requestId);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const seen = await originRequests(requestId);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["paypal-request-id"]).toBe(requestId);
  });

  it("keys the capture of any order (/:id/capture) the same way", async () => {
    const requestId = newKey();
    await paypal("/v2/checkout/orders/5O190127TN364715T/capture", requestId, "");
    const retry = await paypal("/v2/checkout/orders/5O190127TN364715T/capture", requestId, "");
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(requestId)).toHaveLength(1);
  });

  it("exempts tracking (/:id/track): no key needed, every call forwarded, nothing stored", async () => {
    const marker = newKey();
    const track = () =>
      post("/v2/checkout/orders/5O190127TN364715T/track", null, {
        headers: { "x-marker": marker },
        vars: PAYPAL,
      });
    expect((await track()).status).toBe(201);
    const again = await track();
    expect(again.status).toBe(201);
    expect(again.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(marker)).toHaveLength(2);
  });

  it("refuses a PayPal-Request-Id reused on another order with 422 in PayPal's dialect, forwarding nothing", async () => {
    const requestId = newKey();
    await paypal("/v2/checkout/orders/ORDER-A/capture", requestId, "");
    const reused = await paypal("/v2/checkout/orders/ORDER-B/capture", requestId, "");
    expect(reused.status).toBe(422);
    const body = await problemOf(reused);
    expect(body).toMatchObject({
      code: "idempotency-key-reused",
      name: "UNPROCESSABLE_ENTITY",
      debug_id: "idempotency-gateway",
      details: [{ issue: "PAYPAL_REQUEST_ID_PREVIOUSLY_USED" }],
    });
    expect(body.message).toBe(body.detail);
    expect(await originRequests(requestId)).toHaveLength(1);
  });

  it("answers a create without its PayPal-Request-Id, where keys are required, with 400 INVALID_REQUEST, naming the header", async () => {
    const response = await post("/v2/checkout/orders", null, {
      body: '{"intent":"CAPTURE"}',
      headers: { "x-marker": "no-request-id" },
      vars: { ...PAYPAL, IDEMPOTENCY_KEY_REQUIRED: "true" },
    });
    expect(response.status).toBe(400);
    const body = await problemOf(response);
    expect(body).toMatchObject({ code: "missing-idempotency-key", name: "INVALID_REQUEST" });
    expect(String(body.detail)).toContain("PayPal-Request-Id");
    expect(await originRequests("no-request-id")).toHaveLength(0);
  });
});

/** Square: keys in the JSON body, keyed updates are PUT, cancel-by-key names another key. */
const SQUARE: Vars = {
  IDEMPOTENCY_CONCURRENCY: "reject",
  IDEMPOTENCY_ROUTES: JSON.stringify({
    ...SQUARE_ROUTES,
    "/gate/:gate/v2/payments": SQUARE_ROUTES["/v2/payments"],
    "/v2/payments/cancel": { IDEMPOTENCY_KEY_FROM: "none" },
  }),
};

function square(path: string, key: string, extra: object = {}, method = "POST") {
  const body = JSON.stringify({ idempotency_key: key, amount_money: { amount: 100 }, ...extra });
  return post(path, null, { body, method, headers: { "x-marker": key }, vars: SQUARE });
}

describe("rules per operation (a Square-like API)", () => {
  it("covers a keyed PUT update on its route: forwarded once, then replayed", async () => {
    const key = newKey();
    const first = await square("/v2/orders/ord_1", key, { order: { version: 1 } }, "PUT");
    expect(first.status).toBe(201);
    const retry = await square("/v2/orders/ord_1", key, { order: { version: 1 } }, "PUT");
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("refuses the key reused with another body with 422 in Square's dialect (IDEMPOTENCY_KEY_REUSED)", async () => {
    const key = newKey();
    await square("/v2/payments", key);
    const reused = await square("/v2/payments", key, { amount_money: { amount: 999 } });
    expect(reused.status).toBe(422);
    expect(await problemOf(reused)).toMatchObject({
      code: "idempotency-key-reused",
      errors: [{ category: "INVALID_REQUEST_ERROR", code: "IDEMPOTENCY_KEY_REUSED" }],
    });
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers a duplicate in flight with 409 in Square's dialect (CONFLICT), and forwards it never", async () => {
    const key = newKey();
    const gate = newKey();
    const first = square(`/gate/${gate}/v2/payments`, key);
    await originArrivals(gate, 1);
    const duplicate = await square(`/gate/${gate}/v2/payments`, key);
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get("retry-after")).not.toBeNull();
    expect(await problemOf(duplicate)).toMatchObject({
      code: "request-in-progress",
      errors: [{ category: "API_ERROR", code: "CONFLICT" }],
    });
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("passes the cancel-by-key call untouched: its body names another request's key", async () => {
    const key = newKey();
    await square("/v2/payments", key);
    const cancel = await post("/v2/payments/cancel", null, {
      body: JSON.stringify({ idempotency_key: key }),
      headers: { "x-marker": key },
      vars: SQUARE,
    });
    expect(cancel.status).toBe(201);
    expect(cancel.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });
});

describe("an Adyen-like API", () => {
  const ADYEN: Vars = {
    IDEMPOTENCY_SCOPE_HEADERS: "x-api-key",
    IDEMPOTENCY_ERROR_DIALECT: "adyen",
  };

  it("refuses a reused key with 422 in Adyen's dialect (status, errorCode, message, errorType)", async () => {
    const key = newKey();
    const headers = { "x-api-key": "AQE_test_key" };
    await post("/v71/payments", key, { headers, vars: ADYEN });
    const reused = await post("/v71/payments", key, { headers, body: "{}", vars: ADYEN });
    expect(reused.status).toBe(422);
    const body = await problemOf(reused);
    expect(body).toMatchObject({
      status: 422,
      errorCode: "idempotency-key-reused",
      errorType: "validation",
    });
    expect(body.message).toBe(body.detail);
  });

  it("keeps a key under one X-API-Key apart from the same key under another", async () => {
    const key = newKey();
    await post("/v71/payments", key, { headers: { "x-api-key": "AQE_one" }, vars: ADYEN });
    const other = await post("/v71/payments", key, {
      headers: { "x-api-key": "AQE_two" },
      vars: ADYEN,
    });
    expect(other.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });
});

describe("retry statuses by class (a Checkout.com-like API: only 2xx answers are kept)", () => {
  const CHECKOUT: Vars = {
    IDEMPOTENCY_ROUTES: JSON.stringify({
      "/status/*": {
        IDEMPOTENCY_KEY_FROM: "header:Cko-Idempotency-Key",
        IDEMPOTENCY_RETRY_STATUSES: "4xx,5xx",
      },
    }),
  };

  function checkout(path: string, key: string) {
    return post(path, null, {
      headers: { "cko-idempotency-key": key, "x-marker": key },
      vars: CHECKOUT,
    });
  }

  it.each([402, 422, 500, 502])(
    "releases the key on %i, so the retry is forwarded again",
    async (status) => {
      const key = newKey();
      expect((await checkout(`/status/${status}`, key)).status).toBe(status);
      const retry = await checkout(`/status/${status}`, key);
      expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
      expect(await originRequests(key)).toHaveLength(2);
    },
  );

  it("still stores and replays a 2xx answer", async () => {
    const key = newKey();
    await checkout("/status/201", key);
    const retry = await checkout("/status/201", key);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("keeps storing a 5xx on routes that release only 4xx", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_RETRY_STATUSES: "4xx" };
    await post("/status/500", key, { vars });
    const retry = await post("/status/500", key, { vars });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("refuses a 2xx class as a retry status, forwarding nothing", async () => {
    const key = newKey();
    const response = await post("/v1/charges", key, {
      vars: { IDEMPOTENCY_RETRY_STATUSES: "2xx" },
    });
    expect(response.status).toBe(500);
    expect(await problemOf(response)).toMatchObject({ code: "invalid-configuration" });
    expect(await originRequests(key)).toHaveLength(0);
  });
});
