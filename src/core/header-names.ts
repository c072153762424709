/**
 * The header names of the gateway's protocol, shared by the Worker and the client helper (which
 * stays free of dependencies: this module imports nothing). HTTP field names are
 * case-insensitive (RFC 9110 §5.1); these are the spellings the README and the IETF draft use.
 */

/** The request header that carries the key (draft-ietf-httpapi-idempotency-key-header-07 §2). */
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";

/** Added to every answer that was not produced by forwarding this very request. */
export const REPLAYED_HEADER = "Idempotent-Replayed";

/**
 * Marks every request the gateway sends to the origin. A request that arrives carrying it has
 * come back from the gateway itself (see docs/operations.md, "Deploying"), and forwarding it again would loop.
 */
export const HOP_HEADER = "Idempotency-Gateway-Hop";
