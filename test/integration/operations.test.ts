import { afterEach, describe, expect, it, vi } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { MIN_ADMIN_TOKEN_LENGTH } from "../../src/http/admin";
import {
  gateway,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
  type Vars,
} from "./harness";

const ADMIN_TOKEN = "admin-secret-token-for-tests-0123456789";
const ADMIN = { ADMIN_TOKEN };
const CREDENTIAL = "Bearer sk_test_a";

function admin(
  action: "lookup" | "purge",
  body: unknown,
  { token = ADMIN_TOKEN, vars = ADMIN as Vars } = {},
) {
  return gateway(
    `/__idempotency/keys/${action}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    },
    vars,
  );
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the admin key endpoints", () => {
  it("do not exist (404) when no ADMIN_TOKEN is configured", async () => {
    const response = await admin("lookup", { key: "k" }, { vars: {} });
    expect(response.status).toBe(404);
  });

  it("answer 401 with WWW-Authenticate to a wrong token", async () => {
    const response = await admin("lookup", { key: "k" }, { token: "wrong" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("Bearer");
    expect((await problemOf(response)).code).toBe("admin-unauthorized");
  });

  it.each([
    ["not JSON", "{"],
    ["no key", { scope: {} }],
    ["an invalid key", { key: "a\u0001b" }],
    ["a scope that is not strings", { key: "k", scope: { authorization: 1 } }],
  ])("answer 400 invalid-admin-request to a body with %s", async (_, body) => {
    const response = await admin("lookup", body);
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("invalid-admin-request");
  });

  it("look a completed key up by the key and scope the client used, without its body", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    const response = await admin("lookup", { key, scope: { Authorization: CREDENTIAL } });
    expect(response.status).toBe(200);
    const view = (await response.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ state: "completed", status: 201 });
    expect(view.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(view.bodyBytes).toBeGreaterThan(0);
    expect(Date.parse(String(view.expiresAt)) - Date.parse(String(view.createdAt))).toBe(
      86_400_000,
    );
    expect(view.response).toBeUndefined();
  });

  it("include the stored answer only when asked, and record the disclosure in the audit line", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key);
    const body = await first.text();
    const log = vi.spyOn(console, "log");
    await admin("lookup", { key, scope: { authorization: CREDENTIAL } });
    const response = await admin("lookup", {
      key,
      scope: { authorization: CREDENTIAL },
      includeResponse: true,
    });
    const view = (await response.json()) as { response: { bodyBase64: string; status: number } };
    expect(view.response.status).toBe(201);
    expect(atob(view.response.bodyBase64)).toBe(body);
    const audit = log.mock.calls
      .map((call) => JSON.parse(String(call[0])) as Record<string, unknown>)
      .filter((line) => line.event === "admin");
    expect(audit).toHaveLength(2);
    expect(audit[0]?.disclosed).toBeUndefined();
    expect(audit[1]).toMatchObject({ action: "lookup", result: "found", disclosed: true });
    // The body itself never reaches the log.
    for (const call of log.mock.calls) expect(String(call[0])).not.toContain(body);
  });

  it(`refuse to run on an ADMIN_TOKEN shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: 500 invalid-configuration, even with the right token`, async () => {
    const weak = "a".repeat(MIN_ADMIN_TOKEN_LENGTH - 1);
    const response = await admin(
      "lookup",
      { key: "k" },
      { token: weak, vars: { ADMIN_TOKEN: weak } },
    );
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("ADMIN_TOKEN");
    // Payments are not affected by the admin secret.
    expect((await post("/v1/charges", newKey(), { vars: { ADMIN_TOKEN: weak } })).status).toBe(201);
    const strong = "a".repeat(MIN_ADMIN_TOKEN_LENGTH);
    const accepted = await admin(
      "lookup",
      { keyHash: "0".repeat(32) },
      { token: strong, vars: { ADMIN_TOKEN: strong } },
    );
    expect(accepted.status).toBe(404);
    expect((await problemOf(accepted)).code).toBe("key-not-found");
  });

  it("answer 404 key-not-found under another scope: a key belongs to its caller", async () => {
    const key = newKey();
    await post("/v1/charges", key);
    const response = await admin("lookup", { key, scope: { authorization: "Bearer other" } });
    expect(response.status).toBe(404);
    expect((await problemOf(response)).code).toBe("key-not-found");
  });

  it("show an in-flight key as in flight, and refuse to purge it", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const lookup = await admin("lookup", { key, scope: { authorization: CREDENTIAL } });
    expect(await lookup.json()).toMatchObject({ state: "in_flight", status: null });
    const purge = await admin("purge", { key, scope: { authorization: CREDENTIAL } });
    expect(purge.status).toBe(409);
    await releaseGate(gate);
    expect((await first).status).toBe(201);
  });

  it("purge an outcome-unknown key so that its next request is forwarded again", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "50", ...ADMIN };
    expect((await post("/hang", key, { vars })).status).toBe(504);
    const lookup = await admin("lookup", { key, scope: { authorization: CREDENTIAL } });
    const view = (await lookup.json()) as Record<string, unknown>;
    expect(view.state).toBe("unknown");
    expect(String(view.detail)).toContain("50 ms");
    const purge = await admin("purge", { key, scope: { authorization: CREDENTIAL } });
    expect(purge.status).toBe(200);
    expect((await post("/v1/charges-reconciled", key)).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(2);
    const again = await admin("purge", { key: "never-used", scope: {} });
    expect(again.status).toBe(404);
  });

  it("log every admin action without the token or the key", async () => {
    const log = vi.spyOn(console, "log");
    const key = newKey();
    await admin("lookup", { key, scope: { authorization: CREDENTIAL } });
    await admin("purge", { key }, { token: "wrong" });
    const lines = log.mock.calls.map((call) => String(call[0]));
    const audit = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toEqual([
      expect.objectContaining({ event: "admin", action: "lookup", result: "not-found" }),
      expect.objectContaining({ event: "admin", action: "purge", result: "unauthorized" }),
    ]);
    for (const line of lines) {
      expect(line).not.toContain(ADMIN_TOKEN);
      expect(line).not.toContain(key);
      expect(line).not.toContain("sk_test_a");
    }
  });
});

describe("per-request logs and metrics", () => {
  it("log one JSON line per covered request with outcome, key hash, statuses and durations — never the key, credential or body", async () => {
    const log = vi.spyOn(console, "log");
    const key = newKey();
    const body = '{"card":"4242424242424242"}';
    await post("/v1/charges", key, { body });
    await post("/v1/charges", key, { body });
    await post("/v1/charges", key, { body: "{}" });
    await post("/v1/charges", "bad\u0001key");
    const lines = log.mock.calls.map((call) => String(call[0]));
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.outcome)).toEqual(["forwarded", "replayed", "mismatch", "invalid"]);
    expect(events[0]).toMatchObject({
      event: "idempotency",
      method: "POST",
      status: 201,
      originStatus: 201,
    });
    expect(events[0]?.keyHash).toMatch(/^[0-9a-f]{32}$/);
    expect(events[1]?.keyHash).toBe(events[0]?.keyHash);
    expect(typeof events[0]?.gatewayMs).toBe("number");
    expect(typeof events[0]?.originMs).toBe("number");
    for (const line of lines) {
      expect(line).not.toContain(key);
      expect(line).not.toContain("sk_test_a");
      expect(line).not.toContain("4242424242424242");
    }
  });

  it("count each covered request in the metrics dataset when one is bound", async () => {
    const writeDataPoint = vi.fn();
    const key = newKey();
    const vars = { METRICS: { writeDataPoint } };
    await post("/v1/charges", key, { vars });
    await post("/v1/charges", key, { vars });
    // A reachability probe before the first forward, if one was due, writes a point of its own.
    const points = writeDataPoint.mock.calls.filter(([point]) => point?.indexes?.[0] !== "probe");
    expect(points).toHaveLength(2);
    expect(points[1]?.[0]).toMatchObject({
      indexes: ["replayed"],
      blobs: ["replayed", "POST"],
    });
    expect(JSON.stringify(writeDataPoint.mock.calls)).not.toContain(key);
  });
});

describe("IDEMPOTENCY_REQUEST_LOGS=false", () => {
  it("drops the per-request log line but still counts the request in metrics", async () => {
    const log = vi.spyOn(console, "log");
    const writeDataPoint = vi.fn();
    const vars = { IDEMPOTENCY_REQUEST_LOGS: "false", METRICS: { writeDataPoint } };
    await post("/v1/charges", newKey(), { vars });
    expect(log).not.toHaveBeenCalled();
    const points = writeDataPoint.mock.calls.filter(([point]) => point?.indexes?.[0] !== "probe");
    expect(points).toHaveLength(1);
    expect(points[0]?.[0]).toMatchObject({ indexes: ["forwarded"] });
  });
});

describe("per-route policy (IDEMPOTENCY_ROUTES)", () => {
  const vars = {
    ...ADMIN,
    // Keys required on the gateway (not the default), optional again on one route.
    IDEMPOTENCY_KEY_REQUIRED: "true",
    IDEMPOTENCY_ROUTES: JSON.stringify({
      "/v1/refunds/*": { IDEMPOTENCY_TTL_SECONDS: "604800" },
      "/v1/quotes": { IDEMPOTENCY_KEY_REQUIRED: "false" },
    }),
  };

  it("gives a route its own TTL", async () => {
    const key = newKey();
    await post("/v1/refunds/re_1", key, { vars });
    const lookup = await admin("lookup", { key, scope: { authorization: CREDENTIAL } }, { vars });
    const view = (await lookup.json()) as { createdAt: string; expiresAt: string };
    expect(Date.parse(view.expiresAt) - Date.parse(view.createdAt)).toBe(604_800_000);
  });

  it("lets a route make keys optional while others still require them", async () => {
    expect((await post("/v1/quotes", null, { vars })).status).toBe(201);
    expect((await post("/v1/charges", null, { vars })).status).toBe(400);
  });

  it("names an invalid entry in the invalid-configuration answer", async () => {
    const response = await post("/v1/charges", newKey(), {
      vars: { IDEMPOTENCY_ROUTES: '{"/v1/*":{"IDEMPOTENCY_WAIT_MS":"forever"}}' },
    });
    expect(response.status).toBe(500);
    expect(String((await problemOf(response)).detail)).toContain(
      'IDEMPOTENCY_ROUTES["/v1/*"].IDEMPOTENCY_WAIT_MS',
    );
  });

  it("does NOT replay a route's key on another route: the key is 422 there", async () => {
    const key = newKey();
    await post("/v1/refunds/re_2", key, { vars });
    const other = await post("/v1/charges", key, { vars });
    expect(other.status).toBe(422);
    expect(other.headers.get(REPLAYED_HEADER)).toBeNull();
  });
});
