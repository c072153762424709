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
      "/v1/quotes": { IDEMPOTENCY_KEY_REQUIRED: "false", IDEMPOTENCY_METHODS: "POST,PUT" },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const { config } = result;
    expect(settingsFor(config, "/v1/refunds/re_1").ttlSeconds).toBe(604_800);
    expect(settingsFor(config, "/v1/refunds/re_1").keyRequired).toBe(true);
    expect(settingsFor(config, "/v1/quotes").keyRequired).toBe(false);
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
