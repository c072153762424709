import type { JsonValue } from "./strict-json.ts";

/**
 * JSON Pointer (RFC 6901): the `json:<pointer>` key source names a member of the request body
 * with one. Pure; never throws.
 *
 * Written here rather than taken from a package: the gateway needs two small things a general
 * library does not promise — configuration-time validation that says what is wrong with a
 * pointer, and evaluation over the parsed body's own members only (a pointer such as
 * `/constructor` must find nothing, never a property inherited by JavaScript objects).
 */

/** A parsed pointer: its reference tokens, unescaped. */
export type JsonPointer = readonly string[];

/** The outcome of parsing a pointer: its tokens, or why it is not one. */
export type PointerParseResult = { ok: true; pointer: JsonPointer } | { ok: false; reason: string };

/**
 * Parses the string form of a pointer (RFC 6901 §3): `""`, or `/`-prefixed reference tokens in
 * which `~0` stands for `~` and `~1` for `/`, and no other `~` may occur.
 *
 * @example
 * parseJsonPointer("/a~1b/m~0n"); // { ok: true, pointer: ["a/b", "m~n"] }
 * parseJsonPointer("a");          // { ok: false, … }: must start with "/"
 */
export function parseJsonPointer(text: string): PointerParseResult {
  if (text === "") return { ok: true, pointer: [] };
  if (!text.startsWith("/")) return { ok: false, reason: 'must be "" or start with "/"' };
  // RFC 6901 §3: escaped = "~" ( "0" / "1" ); a "~" followed by anything else is an error.
  if (/~(?![01])/.test(text)) {
    return { ok: false, reason: 'must escape "~" as "~0" and "/" as "~1"' };
  }
  // §4: "~1" is turned into "/" before "~0" into "~", so "~01" is "~1", not "/".
  const pointer = text
    .slice(1)
    .split("/")
    .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
  return { ok: true, pointer: Object.freeze(pointer) };
}

/** RFC 6901 §4: an array index is "0", or digits without a leading zero. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Evaluates a pointer against a parsed JSON document (RFC 6901 §4).
 *
 * @returns the value it references, or `undefined` when it references nothing: a missing
 *   member, an index past the end, `-` (the element after the last), or a step into a string,
 *   number, boolean or null
 * @example
 * resolveJsonPointer({ a: [1, { b: "x" }] }, ["a", "1", "b"]); // "x"
 */
export function resolveJsonPointer(
  document: JsonValue,
  pointer: JsonPointer,
): JsonValue | undefined {
  let current: JsonValue = document;
  for (const token of pointer) {
    if (Array.isArray(current)) {
      if (!ARRAY_INDEX.test(token)) return undefined;
      const index = Number(token);
      if (index >= current.length) return undefined;
      current = current[index] as JsonValue;
    } else if (typeof current === "object" && current !== null) {
      if (!Object.hasOwn(current, token)) return undefined;
      current = current[token] as JsonValue;
    } else {
      return undefined;
    }
  }
  return current;
}
