import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway } from "./harness";

/**
 * Where the key is (IDEMPOTENCY_KEY_FROM) and how retries' bodies compare
 * (IDEMPOTENCY_FINGERPRINT), over real HTTP against one `wrangler dev` whose routes set them the
 * way PayPal, Square and a client that re-serializes its JSON need. The origin records these
 * requests by `X-Marker`.
 */

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, {
    IDEMPOTENCY_ROUTES: JSON.stringify({
      "/v2/checkout/*": {
        IDEMPOTENCY_KEY_FROM: "header:PayPal-Request-Id",
        IDEMPOTENCY_KEY_REQUIRED: "true",
      },
      "/v2/payments": {
        IDEMPOTENCY_KEY_FROM: "json:/idempotency_key",
        IDEMPOTENCY_KEY_REQUIRED: "true",
        IDEMPOTENCY_FINGERPRINT: "json",
      },
      "/v1/canonical/*": { IDEMPOTENCY_FINGERPRINT: "json" },
    }),
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

const PAYMENT = '{"amount":1000,"currency":"usd"}';
const PAYMENT_RESERIALIZED = '{ "currency" : "usd",\n  "amount" : 1000.0 }';

describe("a JSON body re-serialized between retries", () => {
  it("is replayed under IDEMPOTENCY_FINGERPRINT=json: one origin call", async () => {
    const key = randomUUID();
    expect((await send(gateway, "/v1/canonical/charges", { key, body: PAYMENT })).status).toBe(201);
    const retry = await send(gateway, "/v1/canonical/charges", {
      key,
      body: PAYMENT_RESERIALIZED,
    });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("is 422 idempotency-key-reused under bytes (the default), and is NOT forwarded", async () => {
    const key = randomUUID();
    await send(gateway, "/v1/charges", { key, body: PAYMENT });
    const retry = await send(gateway, "/v1/charges", { key, body: PAYMENT_RESERIALIZED });
    expect(retry.status).toBe(422);
    expect((await problemOf(retry)).code).toBe("idempotency-key-reused");
    expect(origin.requests(key)).toHaveLength(1);
  });
});

describe("a key in the JSON body (json:/idempotency_key)", () => {
  it("is forwarded once with the body unchanged, and its re-serialized retry is replayed", async () => {
    const key = randomUUID();
    const marker = randomUUID();
    const body = `{"idempotency_key":"${key}","amount_money":{"amount":1000,"currency":"USD"}}`;
    const retryBody = `{"amount_money":{"currency":"USD","amount":1000},\n "idempotency_key":"${key}"}`;
    const headers = { "x-marker": marker };
    expect((await send(gateway, "/v2/payments", { body, headers })).status).toBe(201);
    const retry = await send(gateway, "/v2/payments", { body: retryBody, headers });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    const seen = origin.requests(marker);
    expect(seen).toHaveLength(1);
    expect(Buffer.from(seen[0]?.bodyBase64 ?? "", "base64").toString()).toBe(body);
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it.each([
    ["missing", '{"amount_money":{"amount":1000}}', "missing-idempotency-key"],
    ["null", '{"idempotency_key":null}', "invalid-idempotency-key"],
    ["a number", '{"idempotency_key":42}', "invalid-idempotency-key"],
    ["too long", `{"idempotency_key":"${"k".repeat(256)}"}`, "invalid-idempotency-key"],
    ["in malformed JSON", '{"idempotency_key":"k"', "malformed-body"],
  ])("is refused when %s: 400 %s, nothing forwarded", async (_, body, code) => {
    const marker = randomUUID();
    const response = await send(gateway, "/v2/payments", { body, headers: { "x-marker": marker } });
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.code).toBe(code);
    if (code === "missing-idempotency-key") {
      expect(String(problem.detail)).toContain("the JSON member /idempotency_key");
    }
    expect(origin.requests(marker)).toHaveLength(0);
  });
});

describe("a key in another header (header:PayPal-Request-Id)", () => {
  it("is forwarded once with the header as sent, and its retry is replayed", async () => {
    const key = randomUUID();
    const marker = randomUUID();
    const headers = { "paypal-request-id": key, "x-marker": marker };
    const first = await send(gateway, "/v2/checkout/orders", { headers });
    expect(first.status).toBe(201);
    const retry = await send(gateway, "/v2/checkout/orders", { headers });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    const seen = origin.requests(marker);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["paypal-request-id"]).toBe(key);
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("is required there: without it, 400 missing-idempotency-key names PayPal-Request-Id", async () => {
    const marker = randomUUID();
    const response = await send(gateway, "/v2/checkout/orders", {
      key: randomUUID(),
      headers: { "x-marker": marker },
    });
    expect(response.status).toBe(400);
    expect(String((await problemOf(response)).detail)).toContain("the PayPal-Request-Id header");
    expect(origin.requests(marker)).toHaveLength(0);
  });
});

describe("the scope rule", () => {
  it("answers a key sent without a scope header with 400 missing-scope, forwarding nothing", async () => {
    const key = randomUUID();
    const response = await send(gateway, "/v1/charges", { key, headers: { authorization: "" } });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("missing-scope");
    expect(origin.requests(key)).toHaveLength(0);
  });
});
