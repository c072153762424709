import { bodyFormat, type BodyFormat } from "./media-type";
import { parseStrictJson, type JsonValue } from "./strict-json";

/**
 * A covered request's body, read once for both of its uses: a key in a JSON member
 * (`json:` key source) and the comparison of retries (`json` fingerprint). Pure.
 */

/** The buffered body, its format, and its JSON document when it had to be parsed. */
export interface RequestBody {
  bytes: Uint8Array;
  /**
   * The format by `Content-Type`; `empty` for no body or an empty one, whatever its type: a
   * `Content-Type: application/json` request with nothing in it (as some SDKs send for calls
   * without parameters) is a request without a body, never a parse error.
   */
  format: BodyFormat | "empty";
  /** The parsed document, when `format` is `json` and parsing was asked for. */
  json?: { value: JsonValue; exact: boolean };
}

/**
 * Reads a buffered body's format and, when `parseJson` and it is JSON, parses it strictly.
 *
 * @returns the body, or why a JSON body the gateway must read cannot be read (`malformed-body`)
 * @example
 * parseBody(bytes, "application/json", { parseJson: true }); // { ok: true, body: { json: … } }
 */
export function parseBody(
  bytes: Uint8Array,
  contentType: string | null,
  { parseJson }: { parseJson: boolean },
): { ok: true; body: RequestBody } | { ok: false; reason: string } {
  if (bytes.byteLength === 0) return { ok: true, body: { bytes, format: "empty" } };
  const format = bodyFormat(contentType);
  if (format !== "json" || !parseJson) return { ok: true, body: { bytes, format } };
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) return parsed;
  return { ok: true, body: { bytes, format, json: { value: parsed.value, exact: parsed.exact } } };
}
