import { HOP_HEADER, IDEMPOTENCY_KEY_HEADER } from "./header-names.ts";
import { isHopByHop } from "./http-headers.ts";
import { checkKey, parseIdempotencyKey, type KeyParseResult } from "./idempotency-key.ts";
import { parseJsonPointer, resolveJsonPointer, type JsonPointer } from "./json-pointer.ts";
import type { JsonValue } from "./strict-json.ts";

/**
 * Where a route's key is (`IDEMPOTENCY_KEY_FROM`, docs/clients.md "The key"): a header, a string member
 * of a JSON body, or nowhere. Payment APIs disagree: Stripe reads `Idempotency-Key`, PayPal
 * `PayPal-Request-Id`, Checkout.com `Cko-Idempotency-Key`, and Square an `idempotency_key`
 * member of the JSON body. Pure; never throws.
 */

/** A parsed key source. */
export type KeySource =
  | {
      readonly kind: "header";
      /** The field name as configured, for messages (`PayPal-Request-Id`). */
      readonly name: string;
      /** The field name in lowercase, for lookups. */
      readonly field: string;
    }
  | {
      readonly kind: "json";
      /** The RFC 6901 pointer as configured, for messages (`/idempotency_key`). */
      readonly pointer: string;
      readonly tokens: JsonPointer;
    }
  /** The route has no key: its requests are proxied untouched. */
  | { readonly kind: "none" };

/** The default source: the header of draft-ietf-httpapi-idempotency-key-header. */
export const DEFAULT_KEY_SOURCE = `header:${IDEMPOTENCY_KEY_HEADER}`;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2

/**
 * Parses the setting's value: `header:<Name>`, `json:<RFC 6901 pointer>` or `none`.
 *
 * @returns the source, or what is wrong with the value (for `invalid-configuration`)
 * @example
 * parseKeySource("header:PayPal-Request-Id"); // { ok: true, source: { kind: "header", … } }
 * parseKeySource("json:/idempotency_key");    // { ok: true, source: { kind: "json", … } }
 */
export function parseKeySource(
  text: string,
): { ok: true; source: KeySource } | { ok: false; reason: string } {
  if (text === "none") return { ok: true, source: { kind: "none" } };
  if (text.startsWith("header:")) {
    const name = text.slice("header:".length);
    const field = name.toLowerCase();
    if (!TOKEN.test(name)) return { ok: false, reason: "header:<Name> must name an HTTP field" };
    // The origin must receive the key where the client put it: a field the gateway never
    // forwards, or replaces, cannot carry it.
    if (isHopByHop(field) || field === HOP_HEADER.toLowerCase()) {
      return { ok: false, reason: `header:${name} names a field the gateway does not forward` };
    }
    return { ok: true, source: { kind: "header", name, field } };
  }
  if (text.startsWith("json:")) {
    const pointer = text.slice("json:".length);
    const parsed = parseJsonPointer(pointer);
    if (!parsed.ok)
      return { ok: false, reason: `json:<pointer>: the RFC 6901 pointer ${parsed.reason}` };
    if (parsed.pointer.length === 0) {
      return {
        ok: false,
        reason: "json:<pointer> must name a member of the body, such as /idempotency_key",
      };
    }
    return { ok: true, source: { kind: "json", pointer, tokens: parsed.pointer } };
  }
  return { ok: false, reason: 'must be "header:<Name>", "json:<RFC 6901 pointer>" or "none"' };
}

/**
 * Where the client should put the key, for the `missing-idempotency-key` detail.
 *
 * @example
 * describeKeySource({ kind: "json", pointer: "/idempotency_key", tokens: ["idempotency_key"] });
 * // "the JSON member /idempotency_key of the request body"
 */
export function describeKeySource(source: KeySource): string {
  switch (source.kind) {
    case "header":
      return `the ${source.name} header`;
    case "json":
      return `the JSON member ${source.pointer} of the request body`;
    case "none":
      return "nowhere (this route has no key)";
  }
}

/**
 * Reads the key from its header (`Headers.get`'s value, `null` when absent). Only
 * `Idempotency-Key` takes the quoted form; other headers are read as sent.
 *
 * @example
 * keyFromHeader({ kind: "header", name: "PayPal-Request-Id", field: "paypal-request-id" }, "7f…");
 * // { kind: "key", key: "7f…" }
 */
export function keyFromHeader(
  source: Extract<KeySource, { kind: "header" }>,
  value: string | null,
): KeyParseResult {
  return parseIdempotencyKey(value, {
    label: source.name,
    quoted: source.field === IDEMPOTENCY_KEY_HEADER.toLowerCase(),
  });
}

/**
 * Reads the key from a parsed JSON body.
 *
 * @param document - the parsed body, or `undefined` when the request has no JSON body
 *   (another content type, or an empty body): then it has no key
 * @returns the key; `missing` when the body or the member is absent; `invalid` when the member
 *   is not a string (`null` included) or breaks the key rules
 * @example
 * keyFromJson(source, { idempotency_key: "7f…" }); // { kind: "key", key: "7f…" }
 */
export function keyFromJson(
  source: Extract<KeySource, { kind: "json" }>,
  document: JsonValue | undefined,
): KeyParseResult {
  if (document === undefined) return { kind: "missing" };
  const value = resolveJsonPointer(document, source.tokens);
  if (value === undefined) return { kind: "missing" };
  const label = `JSON member ${source.pointer}`;
  if (typeof value !== "string") {
    return { kind: "invalid", reason: `The ${label} must be a string, not ${jsonType(value)}.` };
  }
  return checkKey(value, label);
}

function jsonType(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}
