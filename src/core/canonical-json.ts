import canonicalize from "canonicalize";
import type { JsonValue } from "./strict-json";

/**
 * The JSON Canonicalization Scheme (RFC 8785, "JCS") of a parsed body, for the `json`
 * fingerprint: members sorted by the UTF-16 code units of their names (§3.2.3), no insignificant
 * whitespace, strings with the minimal escapes of §3.2.2.2, and numbers in ECMAScript's shortest
 * form (§3.2.2.3). Two serialisations of the same document — members in another order, other
 * whitespace, `1.0` for `1`, `\u0041` for `A` — have one canonical form.
 *
 * The serialisation is the `canonicalize` package (Apache-2.0), the implementation maintained by
 * two of RFC 8785's authors; `test/unit/core/canonical-json.test.ts` checks it against the RFC's
 * examples. Parsing is ours (`strict-json.ts`): it refuses duplicate member names, which
 * `JSON.parse` would silently resolve.
 */

/**
 * The canonical text of a document that `parseStrictJson` reported `exact` (an inexact one,
 * with a lone surrogate or a number a double cannot hold, has no faithful canonical form; this
 * function throws for the former).
 *
 * @example
 * canonicalJson(parsed); // '{"amount":1000,"currency":"usd"}' for {"currency":"usd","amount":1e3}
 */
export function canonicalJson(value: JsonValue): string {
  const text = canonicalize(value);
  // Only `undefined`, functions and symbols serialise to nothing; a parsed body has none.
  if (text === undefined) throw new TypeError("not a JSON value");
  return text;
}
