import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway, startGateways } from "./harness";

/**
 * Operations over real HTTP against `wrangler dev`: the admin API (with and without the secret),
 * per-route policy, and the log lines the gateway prints.
 */

const ADMIN_TOKEN = "e2e-admin-token-0123456789-abcdefghij";
const CREDENTIAL = "Bearer sk_test_e2e";

let origin: TestOrigin;
let withAdmin: WranglerDev;
let withoutAdmin: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  [withAdmin, withoutAdmin] = (await startGateways([
    startGateway(origin.url, {
      ADMIN_TOKEN,
      IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300",
      // Keys required on the gateway (not the default), optional again on one route.
      IDEMPOTENCY_KEY_REQUIRED: "true",
      IDEMPOTENCY_ROUTES: JSON.stringify({
        "/v1/quotes": { IDEMPOTENCY_KEY_REQUIRED: "false" },
        "/v1/refunds/*": { IDEMPOTENCY_TTL_SECONDS: "604800" },
      }),
    }),
    startGateway(origin.url),
  ])) as [WranglerDev, WranglerDev];
});

afterAll(async () => {
  await Promise.all([withAdmin?.stop(), withoutAdmin?.stop()]);
  await origin?.close();
});

function admin(
  gateway: WranglerDev,
  action: "lookup" | "purge",
  body: unknown,
  token = ADMIN_TOKEN,
): Promise<Response> {
  return fetch(`${gateway.url}/__idempotency/keys/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("the admin API over HTTP", () => {
  it("does not exist without ADMIN_TOKEN", async () => {
    expect((await admin(withoutAdmin, "lookup", { key: "k" })).status).toBe(404);
  });

  it("refuses a wrong token with 401 and a missing key with 400", async () => {
    const wrong = await admin(withAdmin, "lookup", { key: "k" }, "nope");
    expect(wrong.status).toBe(401);
    expect((await problemOf(wrong)).code).toBe("admin-unauthorized");
    const bad = await admin(withAdmin, "lookup", { scope: {} });
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).code).toBe("invalid-admin-request");
  });

  it("looks up an outcome-unknown key, purges it, and lets the next request through", async () => {
    const key = randomUUID();
    expect((await send(withAdmin, "/hang", { key })).status).toBe(504);
    const lookup = await admin(withAdmin, "lookup", { key, scope: { authorization: CREDENTIAL } });
    expect(lookup.status).toBe(200);
    expect(await lookup.json()).toMatchObject({ state: "unknown", status: null });
    const purge = await admin(withAdmin, "purge", { key, scope: { authorization: CREDENTIAL } });
    expect(purge.status).toBe(200);
    expect((await send(withAdmin, "/v1/charges", { key })).status).toBe(201);
    expect(origin.requests(key)).toHaveLength(2);
    const gone = await admin(withAdmin, "purge", { key: randomUUID(), scope: {} });
    expect(gone.status).toBe(404);
  });
});

describe("per-route policy over HTTP", () => {
  it("makes keys optional on one route only", async () => {
    expect((await send(withAdmin, "/v1/quotes")).status).toBe(201);
    expect((await send(withAdmin, "/v1/charges")).status).toBe(400);
  });

  it("gives a route its own TTL", async () => {
    const key = randomUUID();
    await send(withAdmin, "/v1/refunds/re_1", { key });
    const lookup = await admin(withAdmin, "lookup", { key, scope: { authorization: CREDENTIAL } });
    const view = (await lookup.json()) as { createdAt: string; expiresAt: string };
    expect(Date.parse(view.expiresAt) - Date.parse(view.createdAt)).toBe(604_800_000);
  });
});

describe("log lines", () => {
  it("prints one JSON line per covered request, with no key, credential, body or admin token", async () => {
    const key = randomUUID();
    const body = '{"card":"4000056655665556"}';
    await send(withAdmin, "/v1/charges", { key, body });
    await send(withAdmin, "/v1/charges", { key, body });
    await admin(withAdmin, "lookup", { key, scope: { authorization: CREDENTIAL } });
    // wrangler prints the Worker's console output as it happens; the admin line comes last.
    await withAdmin.waitForOutput('"event":"admin","action":"lookup"');
    const lines = withAdmin
      .output()
      .split("\n")
      .filter((line) => line.includes('"event":"idempotency"'));
    const outcomes = lines
      .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>)
      .map((event) => event.outcome);
    expect(outcomes).toEqual(expect.arrayContaining(["forwarded", "replayed"]));
    const output = withAdmin.output();
    expect(output).not.toContain(key);
    expect(output).not.toContain("sk_test_e2e");
    expect(output).not.toContain("4000056655665556");
    expect(output).not.toContain(ADMIN_TOKEN);
  });
});
