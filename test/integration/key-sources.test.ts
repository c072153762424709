import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { newKey, originRequests, post, problemOf, type Vars } from "./harness";

/**
 * IDEMPOTENCY_KEY_FROM (docs/configuration.md, "The key"): the key in another header, in a JSON body member, or
 * nowhere. The test origin records requests by `X-Marker`, since these requests carry no
 * `Idempotency-Key` of their own.
 */

const PAYPAL: Vars = { IDEMPOTENCY_KEY_FROM: "header:PayPal-Request-Id" };
const SQUARE: Vars = { IDEMPOTENCY_KEY_FROM: "json:/idempotency_key" };

function bodyOf(base64: string | undefined): string {
  return Buffer.from(base64 ?? "", "base64").toString();
}

/** A Square-style body: the key in a member, beside the payment's own fields. */
function squareBody(key: unknown, extra = ""): string {
  return `{"idempotency_key":${JSON.stringify(key)},"amount_money":{"amount":1000,"currency":"USD"}${extra}}`;
}

describe("a key in another header (header:PayPal-Request-Id)", () => {
  it("is forwarded once with the header as sent and no Idempotency-Key added, and its retry is replayed", async () => {
    const key = newKey();
    const marker = newKey();
    const headers = { "paypal-request-id": key, "x-marker": marker };
    const first = await post("/v2/checkout/orders", null, { vars: PAYPAL, headers });
    expect(first.status).toBe(201);
    const retry = await post("/v2/checkout/orders", null, { vars: PAYPAL, headers });
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const seen = await originRequests(marker);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["paypal-request-id"]).toBe(key);
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("reads the header as sent: a quoted value is NOT the bare key", async () => {
    const key = newKey();
    const marker = newKey();
    await post("/v2/checkout/orders", null, {
      vars: PAYPAL,
      headers: { "paypal-request-id": key, "x-marker": marker },
    });
    const quoted = await post("/v2/checkout/orders", null, {
      vars: PAYPAL,
      headers: { "paypal-request-id": `"${key}"`, "x-marker": marker },
    });
    expect(quoted.headers.get(REPLAYED_HEADER)).toBeNull();
    const seen = await originRequests(marker);
    expect(seen.map((request) => request.headers["paypal-request-id"])).toEqual([key, `"${key}"`]);
  });

  it("is required where IDEMPOTENCY_KEY_REQUIRED is true: without it, 400 missing-idempotency-key names PayPal-Request-Id, even if Idempotency-Key is sent", async () => {
    const marker = newKey();
    const response = await post("/v2/checkout/orders", newKey(), {
      vars: { ...PAYPAL, IDEMPOTENCY_KEY_REQUIRED: "true" },
      headers: { "x-marker": marker },
    });
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.code).toBe("missing-idempotency-key");
    expect(String(problem.detail)).toContain("the PayPal-Request-Id header");
    expect(await originRequests(marker)).toHaveLength(0);
  });

  it("follows the key rules: 256 characters is 400 invalid-idempotency-key naming the header", async () => {
    const marker = newKey();
    const response = await post("/v2/checkout/orders", null, {
      vars: PAYPAL,
      headers: { "paypal-request-id": "k".repeat(256), "x-marker": marker },
    });
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.code).toBe("invalid-idempotency-key");
    expect(String(problem.detail)).toContain("PayPal-Request-Id");
    expect(await originRequests(marker)).toHaveLength(0);
  });
});

describe("a key in the JSON body (json:/idempotency_key)", () => {
  it("is forwarded once with the body unchanged and no key header added, and its retry is replayed", async () => {
    const key = newKey();
    const marker = newKey();
    const body = squareBody(key);
    const options = { vars: SQUARE, body, headers: { "x-marker": marker } };
    const first = await post("/v2/payments", null, options);
    expect(first.status).toBe(201);
    const retry = await post("/v2/payments", null, options);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    const seen = await originRequests(marker);
    expect(seen).toHaveLength(1);
    expect(bodyOf(seen[0]?.bodyBase64)).toBe(body);
    expect(seen[0]?.headers["idempotency-key"]).toBeUndefined();
  });

  it("answers 422 to another body with the same key, and does NOT forward it", async () => {
    const key = newKey();
    const marker = newKey();
    const headers = { "x-marker": marker };
    await post("/v2/payments", null, { vars: SQUARE, body: squareBody(key), headers });
    const other = await post("/v2/payments", null, {
      vars: SQUARE,
      body: squareBody(key, ',"note":"another"'),
      headers,
    });
    expect(other.status).toBe(422);
    expect(await originRequests(marker)).toHaveLength(1);
  });

  it.each([
    ["the member is absent", '{"amount_money":{"amount":1000}}', "application/json"],
    ["the body is empty, even with a JSON content type", "", "application/json"],
    ["the body is not JSON", "idempotency_key=abc", "application/x-www-form-urlencoded"],
  ])(
    "has no key when %s: where keys are required, 400 missing-idempotency-key naming the JSON member, nothing forwarded",
    async (_, body, contentType) => {
      const marker = newKey();
      const response = await post("/v2/payments", null, {
        vars: { ...SQUARE, IDEMPOTENCY_KEY_REQUIRED: "true" },
        body,
        headers: { "content-type": contentType, "x-marker": marker },
      });
      expect(response.status).toBe(400);
      const problem = await problemOf(response);
      expect(problem.code).toBe("missing-idempotency-key");
      expect(String(problem.detail)).toContain("the JSON member /idempotency_key");
      expect(String(problem.detail)).not.toContain("Idempotency-Key header");
      expect(await originRequests(marker)).toHaveLength(0);
    },
  );

  it.each([
    ["null", null],
    ["a number", 42],
    ["256 characters", "k".repeat(256)],
    ["empty", ""],
  ])(
    "refuses a member that is %s: 400 invalid-idempotency-key, nothing forwarded",
    async (_, member) => {
      const marker = newKey();
      const response = await post("/v2/payments", null, {
        vars: SQUARE,
        body: squareBody(member),
        headers: { "x-marker": marker },
      });
      expect(response.status).toBe(400);
      const problem = await problemOf(response);
      expect(problem.code).toBe("invalid-idempotency-key");
      expect(String(problem.detail)).toContain("/idempotency_key");
      expect(await originRequests(marker)).toHaveLength(0);
    },
  );

  it("answers malformed JSON with 400 malformed-body, forwards nothing and does NOT use up the key", async () => {
    const key = newKey();
    const marker = newKey();
    const headers = { "x-marker": marker };
    const broken = await post("/v2/payments", null, {
      vars: SQUARE,
      body: squareBody(key).slice(0, -1),
      headers,
    });
    expect(broken.status).toBe(400);
    const problem = await problemOf(broken);
    expect(problem.code).toBe("malformed-body");
    expect(problem.error).toMatchObject({ type: "invalid_request_error", code: "malformed-body" });
    expect(await originRequests(marker)).toHaveLength(0);
    const correct = await post("/v2/payments", null, {
      vars: SQUARE,
      body: squareBody(key),
      headers,
    });
    expect(correct.status).toBe(201);
    expect(correct.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(marker)).toHaveLength(1);
  });

  it("answers a body with the key member twice with 400 malformed-body: which one counts is ambiguous", async () => {
    const marker = newKey();
    const body = `{"idempotency_key":"${newKey()}","idempotency_key":"${newKey()}"}`;
    const response = await post("/v2/payments", null, {
      vars: SQUARE,
      body,
      headers: { "x-marker": marker },
    });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("malformed-body");
    expect(await originRequests(marker)).toHaveLength(0);
  });

  it("applies the body limit before parsing: 413 request-too-large", async () => {
    const marker = newKey();
    const response = await post("/v2/payments", null, {
      vars: { ...SQUARE, IDEMPOTENCY_MAX_BODY_BYTES: "16" },
      body: squareBody(newKey()),
      headers: { "x-marker": marker },
    });
    expect(response.status).toBe(413);
    expect(await originRequests(marker)).toHaveLength(0);
  });

  it("proxies a body without the member untouched when keys are optional", async () => {
    const marker = newKey();
    const body = '{"amount_money":{"amount":1000}}';
    const options = {
      vars: { ...SQUARE, IDEMPOTENCY_KEY_REQUIRED: "false" },
      body,
      headers: { "x-marker": marker },
    };
    const first = await post("/v2/payments", null, options);
    const second = await post("/v2/payments", null, options);
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get(REPLAYED_HEADER)).toBeNull();
    const seen = await originRequests(marker);
    expect(seen).toHaveLength(2);
    expect(seen.map((request) => bodyOf(request.bodyBase64))).toEqual([body, body]);
  });
});

describe("a key is one key wherever it was read", () => {
  it("answers 422 to a key first sent in a header and then in a body on another route", async () => {
    const key = newKey();
    const marker = newKey();
    const vars = {
      IDEMPOTENCY_ROUTES: JSON.stringify({
        "/v2/payments": { IDEMPOTENCY_KEY_FROM: "json:/idempotency_key" },
      }),
    };
    const first = await post("/v1/charges", key, { vars, headers: { "x-marker": marker } });
    expect(first.status).toBe(201);
    const reused = await post("/v2/payments", null, {
      vars,
      body: squareBody(key),
      headers: { "x-marker": marker },
    });
    expect(reused.status).toBe(422);
    expect(await originRequests(marker)).toHaveLength(1);
  });
});

describe("a route without a key (none)", () => {
  const vars = {
    IDEMPOTENCY_ROUTES: JSON.stringify({
      "/v2/payments/cancel": { IDEMPOTENCY_KEY_FROM: "none" },
    }),
  };

  it("proxies every request untouched and stores nothing, even with a key header or body member", async () => {
    const key = newKey();
    const options = {
      vars,
      body: squareBody(key),
      headers: { "x-marker": key },
    };
    // The quoted form reaches the origin as sent: the gateway does not read the key here.
    const first = await post("/v2/payments/cancel", `"${key}"`, options);
    const second = await post("/v2/payments/cancel", `"${key}"`, options);
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get(REPLAYED_HEADER)).toBeNull();
    const seen = await originRequests(key);
    expect(seen).toHaveLength(2);
    expect(seen[0]?.headers["idempotency-key"]).toBe(`"${key}"`);
  });

  it("does NOT apply the key rules to it: a malformed body and no scope header are proxied too", async () => {
    const marker = newKey();
    const response = await post("/v2/payments/cancel", null, {
      vars: { ...vars, IDEMPOTENCY_FINGERPRINT: "json" },
      body: "{not json",
      headers: { "x-marker": marker, authorization: "" },
    });
    expect(response.status).toBe(201);
    expect(await originRequests(marker)).toHaveLength(1);
  });
});
