import { bodyFormat, type BodyFormat } from "./media-type";
import { parseMultipart, type FormDataPart } from "./multipart";
import { parseStrictJson, type JsonValue } from "./strict-json";

/**
 * A covered request's body, read once for both of its uses: a key in a JSON member
 * (`json:` key source) and the comparison of retries (`json` fingerprint; a form's parts in every
 * mode). Pure.
 */

/** The buffered body, its format, and its JSON document or form parts when they had to be read. */
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
  /** The form's parts, when `format` is `multipart` and parsing was asked for. */
  parts?: FormDataPart[];
}

/** Which readings the caller needs: each is done only when asked, as each can refuse a body. */
export interface ParseOptions {
  /** Parse a JSON body (a `json:` key source, or the `json` fingerprint). */
  parseJson: boolean;
  /** Split a `multipart/form-data` body into its parts (a body that is fingerprinted). */
  parseMultipart?: boolean;
}

/** Why a body the gateway must read cannot be read (`malformed-body`), in one sentence. */
export interface Unreadable {
  ok: false;
  /** The grammar the body failed, named for the client. */
  format: "json" | "multipart";
  reason: string;
}

/**
 * Reads a buffered body's format and, when asked, parses it: strictly as JSON, or into the parts
 * of a form (RFC 7578).
 *
 * @returns the body, or why a body the gateway must read cannot be read (`malformed-body`)
 * @example
 * parseBody(bytes, "application/json", { parseJson: true }); // { ok: true, body: { json: … } }
 */
export function parseBody(
  bytes: Uint8Array,
  contentType: string | null,
  { parseJson, parseMultipart: splitForm = false }: ParseOptions,
): { ok: true; body: RequestBody } | Unreadable {
  if (bytes.byteLength === 0) return { ok: true, body: { bytes, format: "empty" } };
  const format = bodyFormat(contentType);
  if (format === "multipart" && splitForm) {
    // `bodyFormat` answers `multipart` only for a Content-Type it has read.
    const form = parseMultipart(bytes, contentType ?? "");
    if (!form.ok) return { ok: false, format, reason: form.reason };
    return { ok: true, body: { bytes, format, parts: form.parts } };
  }
  if (format !== "json" || !parseJson) return { ok: true, body: { bytes, format } };
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) return { ok: false, format, reason: parsed.reason };
  return { ok: true, body: { bytes, format, json: { value: parsed.value, exact: parsed.exact } } };
}
