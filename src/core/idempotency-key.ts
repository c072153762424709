import { parseSfString, type SfStringError } from "./sf-string";

/**
 * Parsing the `Idempotency-Key` request header. Pure: a header value in, a result out; never
 * throws.
 *
 * Two spellings name the same key (README, "The key"): the Structured Field String of
 * draft-ietf-httpapi-idempotency-key-header-07 §2.1 (`"abc"`, with `\"` and `\\` escapes,
 * RFC 8941 §3.3.3) and the bare token Stripe's clients send (`abc`).
 */

/** Longest key accepted, after unquoting. */
export const MAX_KEY_LENGTH = 255;

/** The outcome of parsing: the unquoted key, none sent, or why it is invalid. */
export type KeyParseResult =
  { kind: "key"; key: string } | { kind: "missing" } | { kind: "invalid"; reason: string };

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * Parses the combined `Idempotency-Key` header value (`Headers.get`), or `null` when absent.
 *
 * Repeated fields cannot be seen directly: the Fetch API joins them with `", "` (RFC 9110 §5.3).
 * A quoted value followed by anything is therefore rejected, and so is a bare value containing
 * `", "` or ending with `","` (an empty second field): a key that needs those characters must
 * use the quoted form.
 *
 * @example
 * parseIdempotencyKey('"8e03978e"'); // { kind: "key", key: "8e03978e" }
 * parseIdempotencyKey("8e03978e");   // { kind: "key", key: "8e03978e" }
 * parseIdempotencyKey("a, b");       // { kind: "invalid", … }: two fields
 */
export function parseIdempotencyKey(value: string | null): KeyParseResult {
  if (value === null) return { kind: "missing" };
  // RFC 9110 §5.5: optional whitespace around a field value is not part of it.
  const trimmed = value.replace(/^[ \t]+|[ \t]+$/g, "");
  const unquoted = trimmed.startsWith('"') ? unquote(trimmed) : parseBare(trimmed);
  if (typeof unquoted !== "string") return unquoted;
  if (unquoted.length === 0) return invalid("The Idempotency-Key must not be empty.");
  if (unquoted.length > MAX_KEY_LENGTH) {
    return invalid(`The Idempotency-Key must be at most ${MAX_KEY_LENGTH} characters long.`);
  }
  return { kind: "key", key: unquoted };
}

function invalid(reason: string): KeyParseResult {
  return { kind: "invalid", reason };
}

function parseBare(value: string): string | KeyParseResult {
  if (value.length === 0) return "";
  if (!PRINTABLE_ASCII.test(value)) {
    return invalid("The Idempotency-Key must contain printable ASCII characters only.");
  }
  // "a, " is the field "a" joined with an empty second field (trailing whitespace is trimmed).
  if (value.includes(", ") || value.endsWith(",")) {
    return invalid(
      'The request carries more than one Idempotency-Key field (or a bare key containing ", " or ending with ","; send such a key in its quoted form).',
    );
  }
  return value;
}

const SF_STRING_ERRORS: Readonly<Record<SfStringError, string>> = {
  "bad-escape": 'The quoted Idempotency-Key has a backslash not followed by " or \\.',
  "text-after":
    "The request carries more than one Idempotency-Key field, or text after the quoted key.",
  unterminated: "The quoted Idempotency-Key has no closing quote.",
  "not-printable": "The Idempotency-Key must contain printable ASCII characters only.",
};

function unquote(value: string): string | KeyParseResult {
  const result = parseSfString(value);
  return result.ok ? result.value : invalid(SF_STRING_ERRORS[result.error]);
}
