import { parseSfString, type SfStringError } from "./sf-string.ts";

/**
 * Parsing a key: the `Idempotency-Key` request header, another header that carries the key, and
 * the rules every key follows wherever it was read (`key-source.ts`). Pure: a value in, a result
 * out; never throws.
 *
 * Two spellings of `Idempotency-Key` name the same key (docs/configuration.md, "The key"): the Structured Field
 * String of draft-ietf-httpapi-idempotency-key-header-07 §2.1 (`"abc"`, with `\"` and `\\`
 * escapes, RFC 8941 §3.3.3) and the bare token Stripe's clients send (`abc`).
 */

/** Longest key accepted, after unquoting. */
export const MAX_KEY_LENGTH = 255;

/** The outcome of parsing: the unquoted key, none sent, or why it is invalid. */
export type KeyParseResult =
  { kind: "key"; key: string } | { kind: "missing" } | { kind: "invalid"; reason: string };

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** How a key field is read (defaults: the `Idempotency-Key` header). */
export interface KeyFieldOptions {
  /** What carries the key, as the client should read it in a reason ("the PayPal-Request-Id"). */
  label?: string;
  /**
   * Whether the quoted (Structured Field String) form is accepted: only for `Idempotency-Key`,
   * whose draft defines it. Other headers (`PayPal-Request-Id`, `Cko-Idempotency-Key`) are read
   * as sent: a leading `"` is part of their key.
   */
  quoted?: boolean;
}

/**
 * Parses the combined value (`Headers.get`) of the header that carries the key, or `null` when
 * absent.
 *
 * Repeated fields cannot be seen directly: the Fetch API joins them with `", "` (RFC 9110 §5.3).
 * A quoted value followed by anything is therefore rejected, and so is a bare value containing
 * `", "` or ending with `","` (an empty second field): a key that needs those characters must
 * use the quoted form.
 *
 * @param options - `label` defaults to `"Idempotency-Key"`, `quoted` to `true`
 * @example
 * parseIdempotencyKey('"8e03978e"'); // { kind: "key", key: "8e03978e" }
 * parseIdempotencyKey("8e03978e");   // { kind: "key", key: "8e03978e" }
 * parseIdempotencyKey("a, b");       // { kind: "invalid", … }: two fields
 */
export function parseIdempotencyKey(
  value: string | null,
  { label = "Idempotency-Key", quoted = true }: KeyFieldOptions = {},
): KeyParseResult {
  if (value === null) return { kind: "missing" };
  // RFC 9110 §5.5: optional whitespace around a field value is not part of it.
  const trimmed = value.replace(/^[ \t]+|[ \t]+$/g, "");
  const unquoted =
    quoted && trimmed.startsWith('"') ? unquote(trimmed, label) : parseBare(trimmed, label, quoted);
  if (typeof unquoted !== "string") return unquoted;
  return checkKey(unquoted, label);
}

/**
 * The rules every key follows, wherever it was read (docs/configuration.md, "The key"): 1 to 255 printable
 * ASCII characters.
 *
 * @param label - what carried the key, for the reason ("the JSON member /idempotency_key")
 * @example
 * checkKey("", "Idempotency-Key"); // { kind: "invalid", reason: "The Idempotency-Key must not be empty." }
 */
export function checkKey(key: string, label: string): KeyParseResult {
  if (key.length === 0) return invalid(`The ${label} must not be empty.`);
  if (key.length > MAX_KEY_LENGTH) {
    return invalid(`The ${label} must be at most ${MAX_KEY_LENGTH} characters long.`);
  }
  if (!PRINTABLE_ASCII.test(key)) {
    return invalid(`The ${label} must contain printable ASCII characters only.`);
  }
  return { kind: "key", key };
}

function invalid(reason: string): KeyParseResult {
  return { kind: "invalid", reason };
}

function parseBare(value: string, label: string, quoted: boolean): string | KeyParseResult {
  if (value.length === 0) return "";
  if (!PRINTABLE_ASCII.test(value)) {
    return invalid(`The ${label} must contain printable ASCII characters only.`);
  }
  // "a, " is the field "a" joined with an empty second field (trailing whitespace is trimmed).
  if (value.includes(", ") || value.endsWith(",")) {
    return invalid(
      `The request carries more than one ${label} field (or a bare key containing ", " or ending with ","${quoted ? "; send such a key in its quoted form" : ""}).`,
    );
  }
  return value;
}

function sfStringReason(error: SfStringError, label: string): string {
  switch (error) {
    case "bad-escape":
      return `The quoted ${label} has a backslash not followed by " or \\.`;
    case "text-after":
      return `The request carries more than one ${label} field, or text after the quoted key.`;
    case "unterminated":
      return `The quoted ${label} has no closing quote.`;
    case "not-printable":
      return `The ${label} must contain printable ASCII characters only.`;
  }
}

function unquote(value: string, label: string): string | KeyParseResult {
  const result = parseSfString(value);
  return result.ok ? result.value : invalid(sfStringReason(result.error, label));
}
