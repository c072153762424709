import { lengthPrefixed, sha256Hex } from "./canonical-encoding";

/**
 * A key's identity: SHA-256 over the scope header values and the key, so the same key sent under
 * two credentials is two keys, and no raw credential is ever stored, logged or used as an object
 * name (docs/configuration.md, "The key").
 *
 * @param scopeHeaders - the configured header names, lowercase, in configuration order
 * @param header - looks a request header up; `null` when absent (absent differs from empty)
 * @param key - the unquoted Idempotency-Key
 * @example
 * await keyIdentity(["authorization"], (n) => request.headers.get(n), "8e03978e-…");
 */
export function keyIdentity(
  scopeHeaders: readonly string[],
  header: (name: string) => string | null,
  key: string,
): Promise<string> {
  const fields: string[] = ["identity/v1", String(scopeHeaders.length)];
  for (const name of scopeHeaders) {
    const value = header(name);
    // A presence marker keeps "header absent" distinct from "header present but empty".
    fields.push(name, value === null ? "-" : "+", value ?? "");
  }
  fields.push(key);
  return sha256Hex(lengthPrefixed(fields));
}

/**
 * What the runtime reads in place of header bytes that are not UTF-8: workerd decodes a received
 * header value as UTF-8, each invalid byte becoming U+FFFD, and offers no way to its bytes
 * (cloudflare/workerd#6927; the Fetch standard's `ByteString` would keep them).
 */
const REPLACEMENT_CHARACTER = "\uFFFD";

/**
 * The first configured scope header whose value the runtime could not read as sent, or `null`.
 * Such a value cannot scope a key: `Bearer \xff` and `Bearer \xfe` both read as `Bearer \uFFFD`,
 * so their callers would share one identity and one caller's answer would replay to the other. A
 * value that holds U+FFFD itself (the UTF-8 bytes EF BF BD) cannot be told apart, and is refused
 * too: no credential scheme uses it.
 *
 * @param header - looks a request header up, as for `keyIdentity`
 * @example
 * unreadableScopeHeader(["authorization"], (n) => request.headers.get(n)); // "authorization" or null
 */
export function unreadableScopeHeader(
  scopeHeaders: readonly string[],
  header: (name: string) => string | null,
): string | null {
  for (const name of scopeHeaders) {
    if (header(name)?.includes(REPLACEMENT_CHARACTER) === true) return name;
  }
  return null;
}
