/**
 * Per-operation rules (`IDEMPOTENCY_ROUTES` entries) for APIs shaped like PayPal's and Square's,
 * as the README's "Fronting common payment APIs" configures them. Shared by the workerd and the
 * `wrangler dev` tests, which add routes of their own beside them.
 */

/** PayPal Orders v2: create and capture carry `PayPal-Request-Id` (kept 6 h); tracking has no key. */
export const PAYPAL_ROUTES = {
  "/v2/checkout/orders": {
    IDEMPOTENCY_KEY_FROM: "header:PayPal-Request-Id",
    IDEMPOTENCY_ERROR_DIALECT: "paypal",
  },
  "/v2/checkout/orders/:id/capture": {
    IDEMPOTENCY_KEY_FROM: "header:PayPal-Request-Id",
    IDEMPOTENCY_ERROR_DIALECT: "paypal",
    IDEMPOTENCY_TTL_SECONDS: "21600",
  },
  "/v2/checkout/orders/:id/track": { IDEMPOTENCY_KEY_FROM: "none" },
};

/** Square: keys in the JSON body; keyed updates are `PUT`. */
export const SQUARE_ROUTES = {
  "/v2/payments": {
    IDEMPOTENCY_KEY_FROM: "json:/idempotency_key",
    IDEMPOTENCY_ERROR_DIALECT: "square",
  },
  "/v2/orders/:order_id": {
    IDEMPOTENCY_METHODS: "PUT",
    IDEMPOTENCY_KEY_FROM: "json:/idempotency_key",
    IDEMPOTENCY_ERROR_DIALECT: "square",
  },
};

/**
 * An Agentic Commerce Protocol merchant: keys required on every POST of the REST endpoints, the
 * protocol's error codes, bodies compared by meaning, 5xx never kept; the MCP binding's key in
 * the JSON-RPC body (`rfcs/rfc.agentic_checkout.md` §6 and `docs/mcp-binding.md` of
 * agentic-commerce-protocol/agentic-commerce-protocol).
 */
export const ACP_REST = {
  IDEMPOTENCY_METHODS: "POST",
  IDEMPOTENCY_KEY_REQUIRED: "true",
  IDEMPOTENCY_ERROR_DIALECT: "acp",
  IDEMPOTENCY_FINGERPRINT: "json",
  IDEMPOTENCY_RETRY_STATUSES: "429,5xx",
};
/** The MCP binding: the key in `meta.idempotency_key` of a tool call's arguments. */
export const ACP_MCP = {
  IDEMPOTENCY_METHODS: "POST",
  IDEMPOTENCY_KEY_FROM: "json:/params/arguments/meta/idempotency_key",
  IDEMPOTENCY_ERROR_DIALECT: "acp",
  IDEMPOTENCY_FINGERPRINT: "json",
};
export const ACP_ROUTES = {
  "/checkout_sessions": ACP_REST,
  "/checkout_sessions/*": ACP_REST,
  "/agentic_commerce/delegate_payment": ACP_REST,
  "/mcp": ACP_MCP,
};

/** A checkout session an ACP agent creates. */
export const ACP_SESSION = '{"items":[{"id":"item_123","quantity":1}],"currency":"usd"}';

/** A JSON-RPC `tools/call` of the MCP binding, with `key` in its meta (none when `null`). */
export function acpToolCall(key: string | null, id = 1): string {
  const meta: Record<string, string> = { api_version: "2026-04-17" };
  if (key !== null) meta.idempotency_key = key;
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: {
      name: "create_checkout_session",
      arguments: { meta, payload: { items: [{ id: "item_123", quantity: 1 }] } },
    },
  });
}
