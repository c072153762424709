import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { HOP, newKey, gateway, originRequests, post, problemOf } from "./harness";

/**
 * A request as workerd hands one over from the wire, where a GET or HEAD may carry a body: the
 * `Request` constructor refuses to build one, so it is built as a POST and reads as `method`.
 */
class ReceivedRequest extends Request {
  readonly #method: string;

  constructor(method: string, url: string, init: RequestInit) {
    super(url, { ...init, method: "POST" });
    this.#method = method;
  }

  override get method(): string {
    return this.#method;
  }
}

/** Sends a `ReceivedRequest` through the Worker's `fetch` handler. */
async function received(
  method: string,
  path: string,
  init: RequestInit,
  vars: Record<string, string> = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new ReceivedRequest(method, `https://api.example.com${path}`, init);
  const handled = worker.fetch(
    request as Parameters<typeof worker.fetch>[0],
    { ...env, ...vars },
    ctx,
  );
  const response = await handled;
  await waitOnExecutionContext(ctx);
  return response;
}

describe("the Idempotency-Key header", () => {
  it("is required on a covered request where IDEMPOTENCY_KEY_REQUIRED is true: 400 missing-idempotency-key, nothing forwarded", async () => {
    const marker = newKey();
    const response = await post("/v1/charges", null, {
      headers: { "x-marker": marker },
      vars: { IDEMPOTENCY_KEY_REQUIRED: "true" },
    });
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.code).toBe("missing-idempotency-key");
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await originRequests(marker)).toHaveLength(0);
  });

  it("may be absent when IDEMPOTENCY_KEY_REQUIRED is false: the request is proxied with no idempotency", async () => {
    const vars = { IDEMPOTENCY_KEY_REQUIRED: "false" };
    const first = await post("/v1/charges", null, { vars });
    const second = await post("/v1/charges", null, { vars });
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get("x-charge")).not.toBe(first.headers.get("x-charge"));
  });

  it.each([
    ["empty", ""],
    ["256 characters", "k".repeat(256)],
    ["a control character", "abc\tdef"],
    ["an unterminated quote", '"abc'],
    ["two fields", '"a", "b"'],
    ["two bare fields", "a, b"],
  ])("is rejected when %s: 400 invalid-idempotency-key, nothing forwarded", async (_, key) => {
    const marker = newKey();
    const response = await post("/v1/charges", key, { headers: { "x-marker": marker } });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("invalid-idempotency-key");
    expect(await originRequests(marker)).toHaveLength(0);
  });

  it("accepts 255 characters", async () => {
    const key = newKey().padEnd(255, "x");
    const response = await post("/v1/charges", key);
    expect(response.status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("rejects a non-ASCII key", async () => {
    const headers = new Headers({ authorization: "Bearer sk_test_a" });
    headers.set("idempotency-key", "caf\u00e9");
    const response = await gateway("/v1/charges", { method: "POST", headers, body: "{}" });
    expect(response.status).toBe(400);
  });
});

describe("a reused key", () => {
  it.each([
    ["body", "/v1/charges", "POST", '{"amount":2000}'],
    ["path", "/v1/refunds", "POST", '{"amount":1000}'],
    ["query", "/v1/charges?x=1", "POST", '{"amount":1000}'],
    ["method", "/v1/charges", "PATCH", '{"amount":1000}'],
  ])(
    "with a different %s is 422 idempotency-key-reused and is NOT forwarded",
    async (_, path, method, body) => {
      const key = newKey();
      await post("/v1/charges", key);
      const reused = await post(path, key, { method, body });
      expect(reused.status).toBe(422);
      const problem = await problemOf(reused);
      expect(problem.code).toBe("idempotency-key-reused");
      expect(problem.error).toEqual({
        type: "idempotency_error",
        code: "idempotency-key-reused",
        message: problem.detail,
      });
      expect(await originRequests(key)).toHaveLength(1);
    },
  );
});

describe("a request body over IDEMPOTENCY_MAX_BODY_BYTES", () => {
  it("is 413 request-too-large, is not forwarded, and does not use up the key", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_MAX_BODY_BYTES: "16" };
    const big = await post("/v1/charges", key, { vars, body: "x".repeat(17) });
    expect(big.status).toBe(413);
    expect((await problemOf(big)).code).toBe("request-too-large");
    expect(await originRequests(key)).toHaveLength(0);
    const fits = await post("/v1/charges", key, { vars, body: "x".repeat(16) });
    expect(fits.status).toBe(201);
  });

  it("is refused even when streamed without a Content-Length", async () => {
    const key = newKey();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(10));
        controller.enqueue(new Uint8Array(10));
        controller.close();
      },
    });
    const response = await gateway(
      "/v1/charges",
      {
        method: "POST",
        headers: { authorization: "Bearer sk_test_a", "idempotency-key": key },
        body: stream,
      },
      { IDEMPOTENCY_MAX_BODY_BYTES: "16" },
    );
    expect(response.status).toBe(413);
    expect(await originRequests(key)).toHaveLength(0);
  });
});

describe("requests the gateway does not cover", () => {
  it("are proxied untouched and never stored, even with a key", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key, { method: "PUT" });
    const second = await post("/v1/charges", key, { method: "PUT" });
    expect(first.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });

  it.each(["GET", "HEAD"])(
    "forward a %s that carries a body without it (RFC 9110 §9.3.1: it has no defined meaning), never a 500",
    async (method) => {
      const marker = newKey();
      const response = await received(method, "/v1/orders?x=1", {
        headers: { "x-marker": marker, "content-type": "application/json" },
        body: '{"ignored":true}',
      });
      expect(response.status).toBe(201);
      const seen = await originRequests(marker);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ method, path: "/v1/orders", query: "x=1", bodyBase64: "" });
      expect(seen[0]?.headers["content-length"]).toBeUndefined();
    },
  );

  it("forward a covered GET whose body holds no key, where keys are optional, without its body", async () => {
    const marker = newKey();
    const routes = {
      "/v1/search": {
        IDEMPOTENCY_METHODS: "GET,POST",
        IDEMPOTENCY_KEY_FROM: "json:/idempotency_key",
        IDEMPOTENCY_KEY_REQUIRED: "false",
      },
    };
    const response = await received(
      "GET",
      "/v1/search",
      { headers: { "x-marker": marker, "content-type": "application/json" }, body: '{"q":1}' },
      { IDEMPOTENCY_ROUTES: JSON.stringify(routes) },
    );
    expect(response.status).toBe(201);
    const seen = await originRequests(marker);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: "GET", bodyBase64: "" });
  });

  it("answer 502 origin-unreachable, never a 500, when the origin does not answer, and say nothing is known of what reached it", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const key = newKey();
    // Port 9 (discard): nothing listens on it here, so the connection is refused.
    const response = await post("/v1/charges", key, {
      method: "PUT",
      vars: { ORIGIN_URL: "http://127.0.0.1:9" },
    });
    expect(response.status).toBe(502);
    const problem = await problemOf(response);
    expect(problem.code).toBe("origin-unreachable");
    expect(String(problem.detail)).toContain("whether it reached the origin is not known");
    expect(logged.mock.calls.map((call) => JSON.parse(String(call[0])) as unknown)).toEqual([
      expect.objectContaining({ event: "pass-through-failed", method: "PUT" }),
    ]);
    logged.mockRestore();
  });

  it("follow IDEMPOTENCY_METHODS", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_METHODS: "PUT" };
    await post("/v1/charges", key, { method: "PUT", vars });
    const retry = await post("/v1/charges", key, { method: "PUT", vars });
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
  });
});

describe("the key's scope", () => {
  it("makes the same key under two credentials two independent keys, never replaying across them", async () => {
    const key = newKey();
    const a = await post("/v1/charges", key, { headers: { authorization: "Bearer sk_a" } });
    const b = await post("/v1/charges", key, { headers: { authorization: "Bearer sk_b" } });
    expect(b.headers.get("idempotent-replayed")).toBeNull();
    expect(b.headers.get("x-charge")).not.toBe(a.headers.get("x-charge"));
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("is one global scope when IDEMPOTENCY_SCOPE_HEADERS is empty", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_SCOPE_HEADERS: "" };
    await post("/v1/charges", key, { vars, headers: { authorization: "Bearer sk_a" } });
    const b = await post("/v1/charges", key, { vars, headers: { authorization: "Bearer sk_b" } });
    expect(b.headers.get("idempotent-replayed")).toBe("true");
  });

  it("refuses a key sent without any scope header: 400 missing-scope naming the headers, nothing forwarded, the key unused", async () => {
    const key = newKey();
    const unscoped = await gateway("/v1/charges", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: '{"amount":1000}',
    });
    expect(unscoped.status).toBe(400);
    const problem = await problemOf(unscoped);
    expect(problem.code).toBe("missing-scope");
    expect(problem.error).toMatchObject({ type: "invalid_request_error", code: "missing-scope" });
    expect(String(problem.detail)).toContain("(authorization)");
    expect(await originRequests(key)).toHaveLength(0);
    expect((await post("/v1/charges", key)).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("counts an empty scope header as none: 400 missing-scope", async () => {
    const key = newKey();
    const response = await post("/v1/charges", key, { headers: { authorization: "" } });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("missing-scope");
    expect(await originRequests(key)).toHaveLength(0);
  });

  it.each([
    ["Authorization: Bearer \\xff", { authorization: "Bearer \uFFFD" }],
    ["X-Tenant: \\xfe beside a valid Authorization", { "x-tenant": "acme-\uFFFD" }],
  ])(
    "refuses a scope value the runtime could not decode (%s reads as U+FFFD): 400 missing-scope, nothing forwarded, the key unused",
    async (_, headers) => {
      const vars = { IDEMPOTENCY_SCOPE_HEADERS: "authorization,x-tenant" };
      const key = newKey();
      const response = await post("/v1/charges", key, { headers, vars });
      expect(response.status).toBe(400);
      const problem = await problemOf(response);
      expect(problem.code).toBe("missing-scope");
      expect(String(problem.detail)).toMatch(/header is not valid UTF-8/);
      expect(await originRequests(key)).toHaveLength(0);
      expect((await post("/v1/charges", key, { vars })).status).toBe(201);
      expect(await originRequests(key)).toHaveLength(1);
    },
  );

  it("accepts a scope value in valid UTF-8, and keeps two such credentials apart", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key, { headers: { authorization: "Bearer clé" } });
    const second = await post("/v1/charges", key, { headers: { authorization: "Bearer cle" } });
    expect(first.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("accepts any one of the configured scope headers, naming them all when none is sent", async () => {
    const vars = { IDEMPOTENCY_SCOPE_HEADERS: "authorization, x-api-key" };
    const key = newKey();
    // Adyen's SDKs send only X-API-Key.
    const adyen = await post("/v1/charges", key, {
      vars,
      headers: { authorization: "", "x-api-key": "AQE_test" },
    });
    expect(adyen.status).toBe(201);
    const none = await post("/v1/charges", newKey(), { vars, headers: { authorization: "" } });
    expect(String((await problemOf(none)).detail)).toContain("(authorization, x-api-key)");
  });

  it("does NOT refuse a request without a scope header when IDEMPOTENCY_SCOPE_HEADERS is empty", async () => {
    const key = newKey();
    const response = await post("/v1/charges", key, {
      vars: { IDEMPOTENCY_SCOPE_HEADERS: "" },
      headers: { authorization: "" },
    });
    expect(response.status).toBe(201);
  });

  it("does NOT refuse a request without a key or a scope header when keys are optional: it is proxied", async () => {
    const marker = newKey();
    const response = await post("/v1/charges", null, {
      vars: { IDEMPOTENCY_KEY_REQUIRED: "false" },
      headers: { authorization: "", "x-marker": marker },
    });
    expect(response.status).toBe(201);
    expect(await originRequests(marker)).toHaveLength(1);
  });
});

describe("configuration", () => {
  it("answers 500 invalid-configuration naming the variable, logs it, and forwards nothing", async () => {
    const logged = vi.spyOn(console, "error");
    const key = newKey();
    const response = await post("/v1/charges", key, { vars: { IDEMPOTENCY_TTL_SECONDS: "soon" } });
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("IDEMPOTENCY_TTL_SECONDS");
    expect(problem.error).toMatchObject({ type: "api_error" });
    expect(await originRequests(key)).toHaveLength(0);
    const lines = logged.mock.calls.map((call) => JSON.parse(String(call[0])) as unknown);
    expect(lines).toContainEqual({
      event: "invalid-configuration",
      variable: "IDEMPOTENCY_TTL_SECONDS",
      detail: "must be a whole number written in digits",
    });
    logged.mockRestore();
  });

  it("refuses a request that came back from the gateway itself, instead of looping", async () => {
    const key = newKey();
    // What a loop looks like: the request carries this deployment's own marker.
    const response = await post("/v1/charges", key, {
      headers: { "idempotency-gateway-hop": HOP },
    });
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("ORIGIN_URL");
    expect(await originRequests(key)).toHaveLength(0);
  });

  it.each(["1", "true", "0".repeat(64)])(
    "does NOT let a client raise the loop alarm with Idempotency-Gateway-Hop: %s",
    async (forged) => {
      const logged = vi.spyOn(console, "error");
      const key = newKey();
      const response = await post("/v1/charges", key, {
        headers: { "idempotency-gateway-hop": forged },
      });
      expect(response.status).toBe(201);
      const seen = await originRequests(key);
      expect(seen).toHaveLength(1);
      // The origin gets the gateway's marker, never the client's.
      expect(seen[0]?.headers["idempotency-gateway-hop"]).toBe(HOP);
      expect(logged).not.toHaveBeenCalled();
      logged.mockRestore();
    },
  );

  it("refuses a retry status that would forward a success again (200), forwarding nothing", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_RETRY_STATUSES: "200,503" };
    const first = await post("/v1/charges", key, { vars });
    const second = await post("/v1/charges", key, { vars });
    for (const response of [first, second]) {
      expect(response.status).toBe(500);
      const problem = await problemOf(response);
      expect(problem.code).toBe("invalid-configuration");
      expect(String(problem.detail)).toContain("IDEMPOTENCY_RETRY_STATUSES");
    }
    expect(await originRequests(key)).toHaveLength(0);
  });

  it("refuses an unknown IDEMPOTENCY_* variable, even beside IDEMPOTENCY_KEY_REQUIRED=false", async () => {
    const key = newKey();
    const vars = {
      IDEMPOTENCY_KEY_SOURCE: "header:PayPal-Request-Id",
      IDEMPOTENCY_KEY_REQUIRED: "false",
    };
    const headers = { "paypal-request-id": key };
    const first = await post("/v1/charges", null, { vars, headers });
    const second = await post("/v1/charges", null, { vars, headers });
    for (const response of [first, second]) {
      expect(response.status).toBe(500);
      expect(String((await problemOf(response)).detail)).toContain("IDEMPOTENCY_KEY_SOURCE");
    }
    const health = await gateway("/__idempotency/health", {}, vars);
    expect(health.status).toBe(500);
  });

  it("reports a missing ORIGIN_URL on the health endpoint", async () => {
    const response = await gateway("/__idempotency/health", {}, { ORIGIN_URL: undefined as never });
    expect(response.status).toBe(500);
    expect(String((await problemOf(response)).detail)).toContain("ORIGIN_URL");
  });

  it("answers health with 200 once the configuration is valid", async () => {
    const response = await gateway("/__idempotency/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});

describe("the admin prefix", () => {
  it("is never proxied", async () => {
    const key = newKey();
    const response = await post("/__idempotency/anything", key);
    expect(response.status).toBe(404);
    expect(await originRequests(key)).toHaveLength(0);
  });

  it.each([
    ["an unknown path", "/__idempotency/anything", {}],
    ["an unknown problem type", "/__idempotency/problems/no-such-code", {}],
    ["the key endpoints without ADMIN_TOKEN", "/__idempotency/keys/lookup", { method: "POST" }],
  ])("answers %s with a 404 problem+json, in one shape", async (_, path, init) => {
    const response = await gateway(path, init);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await problemOf(response)).toMatchObject({ status: 404, code: "not-found" });
  });

  it("answers an unexpected failure with a 500 problem+json, never plain text", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const broken = {
      getByName() {
        throw new Error("injected failure");
      },
    };
    const response = await gateway(
      "/__idempotency/keys/lookup",
      {
        method: "POST",
        headers: {
          authorization: "Bearer test-admin-token-0123456789-abcdefghij",
          "content-type": "application/json",
        },
        body: JSON.stringify({ key: "k" }),
      },
      { ADMIN_TOKEN: "test-admin-token-0123456789-abcdefghij", COORDINATOR: broken },
    );
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await problemOf(response)).toMatchObject({ status: 500, code: "internal-error" });
    expect(logged).toHaveBeenCalled();
    logged.mockRestore();
  });

  it("documents every problem type it answers with", async () => {
    const response = await post("/v1/charges", null, {
      vars: { IDEMPOTENCY_KEY_REQUIRED: "true" },
    });
    const { type } = await problemOf(response);
    const doc = await gateway(String(type));
    expect(doc.status).toBe(200);
    expect(await doc.json()).toMatchObject({ code: "missing-idempotency-key", status: 400 });
  });
});
