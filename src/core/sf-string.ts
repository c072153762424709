/**
 * The Structured Field String of RFC 8941 §3.3.3, the quoted form of an `Idempotency-Key`
 * (draft-ietf-httpapi-idempotency-key-header-07 §2.1). Shared by the Worker's key parser and the
 * client helper's check, so both accept exactly the same spellings. Pure; imports nothing.
 */

/** Why a value is not one sf-string. */
export type SfStringError = "bad-escape" | "text-after" | "unterminated" | "not-printable";

/**
 * Unquotes `value`, which starts with `"`. RFC 8941 §4.2.5: DQUOTE *( unescaped / "\" ( DQUOTE /
 * "\" ) ) DQUOTE, where unescaped is printable ASCII but `"` and `\`, and nothing may follow.
 *
 * @example
 * parseSfString('"a\\"b"'); // { ok: true, value: 'a"b' }
 * parseSfString('"a" x');   // { ok: false, error: "text-after" }
 */
export function parseSfString(
  value: string,
): { ok: true; value: string } | { ok: false; error: SfStringError } {
  let out = "";
  for (let i = 1; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === 0x5c) {
      const next = value[i + 1];
      if (next !== '"' && next !== "\\") return { ok: false, error: "bad-escape" };
      out += next;
      i++;
    } else if (ch === 0x22) {
      if (i !== value.length - 1) return { ok: false, error: "text-after" };
      return { ok: true, value: out };
    } else if (ch < 0x20 || ch > 0x7e) {
      return { ok: false, error: "not-printable" };
    } else {
      out += value[i];
    }
  }
  return { ok: false, error: "unterminated" };
}
