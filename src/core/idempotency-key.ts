/**
 * Parsing the `Idempotency-Key` request header. Pure: a header value in, a result out; never
 * throws.
 *
 * Two spellings name the same key (CONTRACT.md, "The key"): the Structured Field String of
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
 * `", "` — a key that needs those characters must use the quoted form.
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
  const unquoted = trimmed.startsWith('"') ? parseSfString(trimmed) : parseBare(trimmed);
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
  if (value.includes(", ")) {
    return invalid(
      'The request carries more than one Idempotency-Key field (or a bare key containing ", "; send such a key in its quoted form).',
    );
  }
  return value;
}

/** RFC 8941 §4.2.5: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, and nothing after. */
function parseSfString(value: string): string | KeyParseResult {
  let out = "";
  for (let i = 1; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === 0x5c) {
      const next = value[i + 1];
      if (next !== '"' && next !== "\\") {
        return invalid('The quoted Idempotency-Key has a backslash not followed by " or \\.');
      }
      out += next;
      i++;
    } else if (ch === 0x22) {
      if (i !== value.length - 1) {
        return invalid(
          "The request carries more than one Idempotency-Key field, or text after the quoted key.",
        );
      }
      return out;
    } else if (ch < 0x20 || ch > 0x7e) {
      return invalid("The Idempotency-Key must contain printable ASCII characters only.");
    } else {
      out += value[i];
    }
  }
  return invalid("The quoted Idempotency-Key has no closing quote.");
}
