/**
 * The parameters of a header value such as `Content-Type` or `Content-Disposition`
 * (`type; name=value; name="quoted value"`, RFC 9110 §5.6.6), read from a string whose characters
 * are bytes (each code unit 0–255, as `latin1` in `multipart.ts`). Pure.
 *
 * A quoted value is kept as written between its quotes: a backslash pair is skipped over when
 * looking for the closing quote, but not unescaped. Unescaping would make `"a\b"` and `"ab"` one
 * value, while an origin that takes backslashes literally (as the HTML Standard's form encoding
 * expects, which never writes one) reads two; kept raw, two different headers never compare equal.
 */

/** The parameters by lowercased name (RFC 9110 §5.6.6: names are case-insensitive). */
export type Parameters = ReadonlyMap<string, string>;

/** `tchar` of RFC 9110 §5.6.2. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** An unquoted parameter value: any bytes but whitespace, `;` and `"`. */
const BARE_VALUE = /^[^\s;"]+/;

/** A disposition type (a token) or a media type (`type "/" subtype`, RFC 9110 §8.3.1). */
const HEAD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\/[!#$%&'*+.^_`|~0-9A-Za-z-]+)?/;

/**
 * A value's leading token or media type (e.g. `form-data`, `multipart/form-data`), lowercased, and
 * its parameters, or `null` when the text
 * does not follow the grammar, or names a parameter twice (which of the two an origin would read
 * is not known).
 *
 * Unquoted values may hold any byte but whitespace, `;` and `"`: browsers quote every value, and
 * other senders that do not still mean one value.
 *
 * @example
 * parseParameterized('form-data; name="file"; filename="a.pdf"');
 * // { value: "form-data", parameters: Map { "name" => "file", "filename" => "a.pdf" } }
 */
export function parseParameterized(text: string): { value: string; parameters: Parameters } | null {
  const head = HEAD.exec(text.trimStart());
  if (head === null) return null;
  const parameters = new Map<string, string>();
  let rest = text.trimStart().slice(head[0].length);
  for (;;) {
    rest = trimOws(rest);
    if (rest === "") break;
    if (!rest.startsWith(";")) return null;
    rest = trimOws(rest.slice(1));
    // A trailing `;` (as some senders write) ends the list.
    if (rest === "") break;
    const name = TOKEN.exec(rest);
    if (name === null) return null;
    rest = rest.slice(name[0].length);
    if (!rest.startsWith("=")) return null;
    rest = rest.slice(1);
    let value: string;
    if (rest.startsWith('"')) {
      const end = closingQuote(rest);
      if (end === -1) return null;
      value = rest.slice(1, end);
      rest = rest.slice(end + 1);
    } else {
      const bare = BARE_VALUE.exec(rest);
      if (bare === null) return null;
      value = bare[0];
      rest = rest.slice(value.length);
    }
    const key = name[0].toLowerCase();
    if (parameters.has(key)) return null;
    parameters.set(key, value);
  }
  return { value: head[0].toLowerCase(), parameters };
}

/** The index of the quote that closes the quoted-string opening at 0, or -1 (RFC 9110 §5.6.4). */
function closingQuote(text: string): number {
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === '"') return i;
  }
  return -1;
}

/** Removes optional whitespace (SP, HTAB: RFC 9110 §5.6.3) at the start. */
function trimOws(text: string): string {
  return text.replace(LEADING_OWS, "");
}

const LEADING_OWS = /^[ \t]+/;
