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
