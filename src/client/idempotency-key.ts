/** The request header that carries the key (IETF draft-ietf-httpapi-idempotency-key-header). */
export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";

/** After unquoting, a key is 1 to 255 printable ASCII characters (CONTRACT.md, "The key"). */
const PRINTABLE_ASCII_KEY = /^[\x20-\x7e]{1,255}$/;

/**
 * Whether the gateway accepts `key` as an `Idempotency-Key` field value: either the bare form
 * Stripe clients send (`abc`) or the Structured Field string of the IETF draft (`"abc"`, with
 * `\"` and `\\` escapes), each 1 to 255 printable ASCII characters once unquoted.
 *
 * Checking on the client turns what would be a `400 invalid-idempotency-key` after a round trip
 * into an immediate error at the line that built the key.
 *
 * @param key - the header value the caller intends to send
 * @returns `true` when the gateway would accept it
 *
 * @example
 * ```ts
 * isValidIdempotencyKey(crypto.randomUUID()); // true
 * isValidIdempotencyKey('"order-42"'); // true: structured-field string
 * isValidIdempotencyKey("café"); // false: not ASCII
 * ```
 */
export function isValidIdempotencyKey(key: string): boolean {
  // Fetch strips leading and trailing whitespace from header values (Fetch "normalize"), so such
  // a key would not reach the gateway as written.
  if (key !== key.trim()) return false;
  const unquoted = key.startsWith('"') ? unquoteSfString(key) : key;
  return unquoted !== undefined && PRINTABLE_ASCII_KEY.test(unquoted);
}

/** RFC 8941 §4.2.5: a string is DQUOTE *chr DQUOTE, where only `\"` and `\\` are escapes. */
function unquoteSfString(value: string): string | undefined {
  let out = "";
  for (let i = 1; i < value.length; i += 1) {
    const char = value[i];
    if (char === "\\") {
      const next = value[i + 1];
      if (next !== '"' && next !== "\\") return undefined;
      out += next;
      i += 1;
    } else if (char === '"') {
      // The closing quote must be the last character.
      return i === value.length - 1 ? out : undefined;
    } else {
      out += char;
    }
  }
  return undefined;
}

/**
 * A fresh key: a UUIDv4 from the platform's CSPRNG (122 random bits), as `crypto.randomUUID()`
 * makes it. Fails with an error that says what to do where that global is missing: Node 18 only
 * has it with `--experimental-global-webcrypto`, and browsers only in secure contexts (HTTPS or
 * localhost).
 *
 * @returns a new UUIDv4
 * @throws TypeError when `crypto.randomUUID` is not available
 *
 * @example
 * ```ts
 * const payment = { id: "order-42", idempotencyKey: randomIdempotencyKey() };
 * await db.save(payment); // before the first attempt
 * ```
 */
export function randomIdempotencyKey(): string {
  // `typeof` is the one way to test for a global that may not exist without a ReferenceError.
  if (typeof crypto === "undefined" || typeof crypto.randomUUID !== "function") {
    throw new TypeError(
      "crypto.randomUUID is not available here: pass idempotencyKey on each call, or a generateKey option",
    );
  }
  return crypto.randomUUID();
}
