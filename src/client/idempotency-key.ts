import { parseSfString } from "../core/sf-string";

export { IDEMPOTENCY_KEY_HEADER } from "../core/header-names";

/** After unquoting, a key is 1 to 255 printable ASCII characters (docs/configuration.md, "The key"). */
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
  if (!key.startsWith('"')) return PRINTABLE_ASCII_KEY.test(key);
  const unquoted = parseSfString(key);
  return unquoted.ok && PRINTABLE_ASCII_KEY.test(unquoted.value);
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
