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
import {
  ACP_MCP,
  ACP_REST,
  ACP_SESSION as SESSION,
  acpToolCall as toolCall,
} from "../support/payment-api-routes";

/**
 * Fronting an Agentic Commerce Protocol merchant endpoint (docs/providers.md, "Agentic Commerce
 * Protocol"), configured as that section says: keys required on every POST, the protocol's
 * error codes (`IDEMPOTENCY_ERROR_DIALECT=acp`), bodies compared by meaning, 5xx never kept; and
 * the MCP binding, whose key is in the JSON-RPC body. The protocol's rules are in
 * agentic-commerce-protocol/agentic-commerce-protocol, `rfcs/rfc.agentic_checkout.md` §6.
 */

/** The REST endpoints' settings, and the MCP binding's, here for every path. */
const ACP: Vars = ACP_REST;
const MCP: Vars = ACP_MCP;

describe("an ACP merchant endpoint (keys required, the acp dialect)", () => {
  it("refuses a POST without Idempotency-Key with 400 idempotency_key_required, type invalid_request, and forwards nothing", async () => {
    const marker = newKey();
    const response = await post("/checkout_sessions", null, {
      body: SESSION,
      headers: { "x-marker": marker },
      vars: ACP,
    });
    expect(response.status).toBe(400);
    const body = await problemOf(response);
    expect(body).toMatchObject({
      type: "invalid_request",
      code: "idempotency_key_required",
      message: body.detail,
      status: 400,
    });
    expect(await originRequests(marker)).toHaveLength(0);
  });

  it("replays a retry marked Idempotent-Replayed: true, even re-serialized (member order, 1.0 for 1), with one forward", async () => {
    const key = newKey();
    const first = await post("/checkout_sessions", key, { body: SESSION, vars: ACP });
    const retry = await post("/checkout_sessions", key, {
      body: '{ "currency": "usd", "items": [ { "quantity": 1.0, "id": "item_123" } ] }',
      vars: ACP,
    });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers the key with another body 422 idempotency_conflict, and does NOT forward it", async () => {
    const key = newKey();
    await post("/checkout_sessions", key, { body: SESSION, vars: ACP });
    const other = await post("/checkout_sessions", key, {
      body: '{"items":[{"id":"item_123","quantity":2}],"currency":"usd"}',
      vars: ACP,
    });
    expect(other.status).toBe(422);
    expect(await problemOf(other)).toMatchObject({
      type: "invalid_request",
      code: "idempotency_conflict",
    });
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers a duplicate while the first is in flight 409 idempotency_in_flight with Retry-After", async () => {
    const key = newKey();
    const gate = `acp-${key}`;
    const path = `/gate/${gate}/checkout_sessions`;
    const vars = { ...ACP, IDEMPOTENCY_CONCURRENCY: "reject" };
    const first = post(path, key, { body: SESSION, vars });
    await originArrivals(gate, 1);
    const duplicate = await post(path, key, { body: SESSION, vars });
    expect(duplicate.status).toBe(409);
    expect(Number(duplicate.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await problemOf(duplicate)).toMatchObject({
      type: "invalid_request",
      code: "idempotency_in_flight",
    });
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("does NOT keep a 5xx from the merchant: the retry with the key is processed as a fresh request", async () => {
    const key = newKey();
    const first = await post("/status/500", key, { body: SESSION, vars: ACP });
    const retry = await post("/status/500", key, { body: SESSION, vars: ACP });
    expect([first.status, retry.status]).toEqual([500, 500]);
    expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(key)).toHaveLength(2);
  });
});

describe("the MCP binding (json:/params/arguments/meta/idempotency_key)", () => {
  it("forwards a tools/call with a key once, the body unchanged, and replays its retry", async () => {
    const key = newKey();
    const marker = newKey();
    const options = { body: toolCall(key), headers: { "x-marker": marker }, vars: MCP };
    const first = await post("/mcp", null, options);
    const retry = await post("/mcp", null, options);
    expect(first.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    const seen = await originRequests(marker);
    expect(seen).toHaveLength(1);
    expect(Buffer.from(seen[0]?.bodyBase64 ?? "", "base64").toString()).toBe(toolCall(key));
  });

  it("passes a tool call without a key through untouched, each one forwarded, as any JSON-RPC call without one", async () => {
    const marker = newKey();
    const options = { body: toolCall(null), headers: { "x-marker": marker }, vars: MCP };
    const first = await post("/mcp", null, options);
    const second = await post("/mcp", null, options);
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.headers.get(REPLAYED_HEADER)).toBeNull();
    expect(await originRequests(marker)).toHaveLength(2);
  });

  it("answers a retry under a new JSON-RPC id 422 idempotency_conflict: the id is part of the body", async () => {
    const key = newKey();
    const marker = newKey();
    const headers = { "x-marker": marker };
    await post("/mcp", null, { body: toolCall(key, 1), headers, vars: MCP });
    const renumbered = await post("/mcp", null, { body: toolCall(key, 2), headers, vars: MCP });
    expect(renumbered.status).toBe(422);
    expect((await problemOf(renumbered)).code).toBe("idempotency_conflict");
    expect(await originRequests(marker)).toHaveLength(1);
  });
});
