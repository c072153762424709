import { lengthPrefixed, sha256Hex } from "./canonical-encoding";

/**
 * A key's identity: SHA-256 over the scope header values and the key, so the same key sent under
 * two credentials is two keys, and no raw credential is ever stored, logged or used as an object
 * name (README, "The key").
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
