import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import {
  ACP_ROUTES,
  ACP_SESSION as SESSION,
  acpToolCall as toolCall,
} from "../support/payment-api-routes";
import { problemOf, send, startGateway } from "./harness";

/**
 * An Agentic Commerce Protocol merchant endpoint fronted as docs/providers.md says
 * (`ACP_ROUTES`), over real HTTP against `wrangler dev` and the test origin: the REST
 * endpoints with keys required and the protocol's codes, and the MCP binding with its key in the
 * JSON-RPC body. Beside them, a route left with the defaults shows a keyless write passed through
 * and logged as `keyless`.
 */

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, { IDEMPOTENCY_ROUTES: JSON.stringify(ACP_ROUTES) });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

describe("an ACP merchant endpoint over HTTP", () => {
  it("refuses a checkout POST without Idempotency-Key with 400 idempotency_key_required in the protocol's flat error shape, forwarding nothing", async () => {
    const marker = randomUUID();
    const response = await send(gateway, "/checkout_sessions/cs_123", {
      body: SESSION,
      headers: { "x-marker": marker },
    });
    expect(response.status).toBe(400);
    const body = await problemOf(response);
    expect(body).toMatchObject({
      type: "invalid_request",
      code: "idempotency_key_required",
      message: body.detail,
    });
    expect(origin.requests(marker)).toHaveLength(0);
  });

  it("creates a session once, replays its retry with Idempotent-Replayed: true, and answers another body 422 idempotency_conflict", async () => {
    const key = randomUUID();
    const first = await send(gateway, "/checkout_sessions", { key, body: SESSION });
    const retry = await send(gateway, "/checkout_sessions", { key, body: SESSION });
    expect(first.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const other = await send(gateway, "/checkout_sessions", {
      key,
      body: '{"items":[{"id":"item_123","quantity":2}],"currency":"usd"}',
    });
    expect(other.status).toBe(422);
    expect(await problemOf(other)).toMatchObject({
      type: "invalid_request",
      code: "idempotency_conflict",
    });
    expect(origin.requests(key)).toHaveLength(1);
  });

  it("reads the MCP binding's key from the JSON-RPC body: one forward and a replay; a call without one passes through", async () => {
    const key = randomUUID();
    const marker = randomUUID();
    const keyed = { body: toolCall(key), headers: { "x-marker": marker } };
    expect((await send(gateway, "/mcp", keyed)).status).toBe(201);
    const retry = await send(gateway, "/mcp", keyed);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(origin.requests(marker)).toHaveLength(1);

    const keylessMarker = randomUUID();
    const keyless = { body: toolCall(null), headers: { "x-marker": keylessMarker } };
    expect((await send(gateway, "/mcp", keyless)).status).toBe(201);
    expect((await send(gateway, "/mcp", keyless)).status).toBe(201);
    expect(origin.requests(keylessMarker)).toHaveLength(2);
  });
});

describe("a keyless write on a route with the defaults, over HTTP", () => {
  it("is passed through untouched and logged as its own outcome, keyless", async () => {
    const marker = randomUUID();
    const mark = gateway.output().length;
    const response = await send(gateway, "/v1/charges", { headers: { "x-marker": marker } });
    expect(response.status).toBe(201);
    expect(origin.requests(marker)).toHaveLength(1);
    await gateway.waitForOutput('"outcome":"keyless"', 10_000, mark);
    const line = gateway
      .output()
      .slice(mark)
      .split("\n")
      .find((l) => l.includes('"outcome":"keyless"'));
    expect(line).toContain('"status":201');
    expect(line).not.toContain("sk_test_e2e");
  });
});
