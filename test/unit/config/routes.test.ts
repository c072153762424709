import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/config";
import { settingsFor } from "../../../src/config/routes";

const ORIGIN = "https://origin.example.com";

function withRoutes(routes: unknown) {
  return parseConfig({ ORIGIN_URL: ORIGIN, IDEMPOTENCY_ROUTES: JSON.stringify(routes) });
}

describe("IDEMPOTENCY_ROUTES", () => {
  it("gives a matching route its overrides and keeps the globals for the rest", () => {
    const result = withRoutes({
      "/v1/refunds/*": { IDEMPOTENCY_TTL_SECONDS: "604800" },
      "/v1/quotes": { IDEMPOTENCY_KEY_REQUIRED: "true", IDEMPOTENCY_METHODS: "POST,PUT" },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const { config } = result;
    expect(settingsFor(config, "/v1/refunds/re_1").ttlSeconds).toBe(604_800);
    expect(settingsFor(config, "/v1/refunds/re_1").keyRequired).toBe(false);
    expect(settingsFor(config, "/v1/quotes").keyRequired).toBe(true);
    expect([...settingsFor(config, "/v1/quotes").methods]).toEqual(["POST", "PUT"]);
    expect(settingsFor(config, "/v1/quotes/q_1")).toBe(config);
    expect(settingsFor(config, "/v1/payments").ttlSeconds).toBe(86_400);
  });

  it("lets the longest matching pattern win, whatever the order", () => {
    const result = withRoutes({
      "/v1/*": { IDEMPOTENCY_TTL_SECONDS: "100" },
      "/v1/refunds/*": { IDEMPOTENCY_TTL_SECONDS: "200" },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    expect(settingsFor(result.config, "/v1/refunds/x").ttlSeconds).toBe(200);
    expect(settingsFor(result.config, "/v1/charges").ttlSeconds).toBe(100);
  });

  it("applies route overrides on top of the global variables, not the defaults", () => {
    const result = parseConfig({
      ORIGIN_URL: ORIGIN,
      IDEMPOTENCY_WAIT_MS: "123",
      IDEMPOTENCY_ROUTES: JSON.stringify({ "/a": { IDEMPOTENCY_TTL_SECONDS: "60" } }),
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    expect(settingsFor(result.config, "/a").waitMs).toBe(123);
  });

  it.each([
    [
      { "/v1/*": { IDEMPOTENCY_TTL_SECONDS: "soon" } },
      'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_TTL_SECONDS',
    ],
    [{ "/v1/*": { ORIGIN_URL: "https://elsewhere" } }, 'IDEMPOTENCY_ROUTES["/v1/*"].ORIGIN_URL'],
    [{ "/v1/*": { IDEMPOTENCY_SHARDS: "4" } }, 'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_SHARDS'],
    [
      { "/v1/*": { IDEMPOTENCY_SCOPE_HEADERS: "" } },
      'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_SCOPE_HEADERS',
    ],
    [{ "v1/*": {} }, 'IDEMPOTENCY_ROUTES["v1/*"]'],
    [{ "/v1/*/x": {} }, 'IDEMPOTENCY_ROUTES["/v1/*/x"]'],
    [{ "/v1": "fast" }, 'IDEMPOTENCY_ROUTES["/v1"]'],
    [
      { "/v1": { IDEMPOTENCY_TTL_SECONDS: 60 } },
      'IDEMPOTENCY_ROUTES["/v1"].IDEMPOTENCY_TTL_SECONDS',
    ],
    [
      { "/v1/*": { IDEMPOTENCY_SHARDS_NEXT: "8" } },
      'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_SHARDS_NEXT',
    ],
    // A record would expire before the lease of its origin call ends.
    [
      { "/v1/*": { IDEMPOTENCY_TTL_SECONDS: "60", IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "60000" } },
      'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_TTL_SECONDS',
    ],
    [
      { "/v1/*": { IDEMPOTENCY_RETRY_STATUSES: "200,503" } },
      'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_RETRY_STATUSES',
    ],
  ])("names the invalid entry %j as %s", (routes, variable) => {
    const result = withRoutes(routes);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.variable).toBe(variable);
  });
});

describe("IDEMPOTENCY_ROUTES per operation (URLPattern pathname syntax)", () => {
  const PAYPAL = {
    "/v2/checkout/orders/*": { IDEMPOTENCY_TTL_SECONDS: "100" },
    "/v2/checkout/orders/:id/capture": { IDEMPOTENCY_TTL_SECONDS: "200" },
    "/v2/checkout/orders": { IDEMPOTENCY_TTL_SECONDS: "300" },
    "/v2/checkout/orders/:id/track": { IDEMPOTENCY_METHODS: "PUT" },
  };

  it("gives each operation its own rules, the most specific pattern winning whatever the order", () => {
    const result = withRoutes(PAYPAL);
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const ttl = (path: string) => settingsFor(result.config, path).ttlSeconds;
    expect(ttl("/v2/checkout/orders")).toBe(300);
    expect(ttl("/v2/checkout/orders/5O190127TN364715T/capture")).toBe(200);
    expect(ttl("/v2/checkout/orders/5O190127TN364715T")).toBe(100);
    expect(ttl("/v2/checkout/orders/5O190127TN364715T/capture/extra")).toBe(100);
    expect([...settingsFor(result.config, "/v2/checkout/orders/5O1/track").methods]).toEqual([
      "PUT",
    ]);
  });

  it("prefers a pattern without * to one with it, then fewer parameters, then more literals", () => {
    const result = withRoutes({
      "/v1/*": { IDEMPOTENCY_WAIT_MS: "1" },
      "/v1/:kind/:id": { IDEMPOTENCY_WAIT_MS: "2" },
      "/v1/refunds/:id": { IDEMPOTENCY_WAIT_MS: "3" },
      "/v1/refunds/re_1": { IDEMPOTENCY_WAIT_MS: "4" },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const wait = (path: string) => settingsFor(result.config, path).waitMs;
    expect(wait("/v1/refunds/re_1")).toBe(4);
    expect(wait("/v1/refunds/re_2")).toBe(3);
    expect(wait("/v1/charges/ch_1")).toBe(2);
    expect(wait("/v1/charges/ch_1/capture")).toBe(1);
  });

  it("lets the first declared of two equally specific patterns win", () => {
    const a = withRoutes({
      "/a/:x/c": { IDEMPOTENCY_WAIT_MS: "1" },
      "/a/b/:y": { IDEMPOTENCY_WAIT_MS: "2" },
    });
    const b = withRoutes({
      "/a/b/:y": { IDEMPOTENCY_WAIT_MS: "2" },
      "/a/:x/c": { IDEMPOTENCY_WAIT_MS: "1" },
    });
    if (!a.ok || !b.ok) throw new Error("valid routes refused");
    expect(settingsFor(a.config, "/a/b/c").waitMs).toBe(1);
    expect(settingsFor(b.config, "/a/b/c").waitMs).toBe(2);
  });

  it("prefers an exact pattern to a trailing * that also matches it", () => {
    const result = withRoutes({
      "/v1*": { IDEMPOTENCY_WAIT_MS: "1" },
      "/v1": { IDEMPOTENCY_WAIT_MS: "2" },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    expect(settingsFor(result.config, "/v1").waitMs).toBe(2);
    expect(settingsFor(result.config, "/v1/x").waitMs).toBe(1);
  });

  it("covers a Square-style keyed PUT on one route only", () => {
    const result = withRoutes({ "/v2/orders/:order_id": { IDEMPOTENCY_METHODS: "PUT" } });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    expect(settingsFor(result.config, "/v2/orders/ord_1").methods.has("PUT")).toBe(true);
    expect(settingsFor(result.config, "/v2/payments").methods.has("PUT")).toBe(false);
  });

  it.each([
    [{ "/v2/orders/:id*": {} }, 'IDEMPOTENCY_ROUTES["/v2/orders/:id*"]'],
    [{ "/v2/orders/(\\d+)": {} }, 'IDEMPOTENCY_ROUTES["/v2/orders/(\\d+)"]'],
    [{ "/v2/:id/:id": {} }, 'IDEMPOTENCY_ROUTES["/v2/:id/:id"]'],
    [
      { "/v2/orders/:id": { IDEMPOTENCY_RETRY_STATUSES: "3xx" } },
      'IDEMPOTENCY_ROUTES["/v2/orders/:id"].IDEMPOTENCY_RETRY_STATUSES',
    ],
    [
      { "/v2/orders/:id": { IDEMPOTENCY_ERROR_DIALECT: "braintree" } },
      'IDEMPOTENCY_ROUTES["/v2/orders/:id"].IDEMPOTENCY_ERROR_DIALECT',
    ],
    [
      { "/v2/orders/:id": { IDEMPOTENCY_LOCATION_HINT: "enam" } },
      'IDEMPOTENCY_ROUTES["/v2/orders/:id"].IDEMPOTENCY_LOCATION_HINT',
    ],
  ])("names the invalid entry %j as %s", (routes, variable) => {
    const result = withRoutes(routes);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.variable).toBe(variable);
  });
});
