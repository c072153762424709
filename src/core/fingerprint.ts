import { lengthPrefixed, sha256Hex, type Field } from "./canonical-encoding";
import { canonicalJson } from "./canonical-json";
import { formPairs, type FormPair } from "./form-pairs";
import type { FormDataPart } from "./multipart";
import type { RequestBody } from "./request-body";

/** The parts of a request that must match for a retry to count as the same request. */
export interface FingerprintInput {
  method: string;
  /** The path as the client sent it (percent-encoding untouched). */
  path: string;
  /** The query string without its leading `?` ("" when there is none). */
  query: string;
  body: Uint8Array;
}

/** How bodies are compared (`IDEMPOTENCY_FINGERPRINT`): as bytes, or JSON and forms by meaning. */
export type FingerprintMode = "bytes" | "json";

/** A body in the form its fingerprint covers. */
export type ComparedBody =
  /** The bytes as sent. */
  | { kind: "bytes"; bytes: Uint8Array }
  /** A JSON document's RFC 8785 canonical text. */
  | { kind: "json"; canonical: string }
  /** A form's decoded pairs, sorted by name (`form-pairs.ts`). */
  | { kind: "form"; pairs: readonly FormPair[] }
  /** A `multipart/form-data` body's parts, in order (`multipart.ts`). */
  | { kind: "multipart"; parts: readonly FormDataPart[] };

/**
 * One version tag per encoding, so fingerprints computed in different ways can never be equal: a
 * record stored under one and a retry fingerprinted under another are a `422`, never a replay
 * of an answer to another request (docs/adr/0004, docs/adr/0007). Bytes keep `fingerprint/v1`,
 * unchanged, so every fingerprint stored before the `json` mode existed still matches.
 */
const VERSIONS: Readonly<Record<ComparedBody["kind"], string>> = {
  bytes: "fingerprint/v1",
  json: "fingerprint/v2-json",
  form: "fingerprint/v2-form",
  multipart: "fingerprint/v3-multipart",
};

/**
 * The field that says whether an optional part value (filename, content type) was sent: the
 * text `0` or `1`, kept as bytes so that a form of many parts encodes no text per part for them.
 */
const ABSENT: Field = Uint8Array.of(0x30);
const PRESENT: Field = Uint8Array.of(0x31);
const NOTHING: Field = new Uint8Array();

/**
 * SHA-256 (hex) over a length-prefixed encoding of the method, path, query and body bytes
 * (docs/configuration.md, "Comparing bodies"; docs/adr/0004).
 *
 * @example
 * await fingerprint({ method: "POST", path: "/v1/payments", query: "", body: new Uint8Array() });
 */
export function fingerprint(input: FingerprintInput): Promise<string> {
  return fingerprintOf(input, { kind: "bytes", bytes: input.body });
}

/**
 * The fingerprint of a request whose body is compared in the given form: the fields of
 * `fingerprint` with the body replaced by its canonical text, or by its pairs (each name and
 * value its own length-prefixed field), or by the number of its parts and then six fields per
 * part (name; `1` and the filename, or `0` and nothing; the same for the content type; the
 * content), under the form's own version tag.
 *
 * @example
 * await fingerprintOf(request, comparedBody("json", body));
 */
export function fingerprintOf(
  request: Omit<FingerprintInput, "body">,
  body: ComparedBody,
): Promise<string> {
  const fields: Field[] = [VERSIONS[body.kind], request.method, request.path, request.query];
  switch (body.kind) {
    case "bytes":
      fields.push(body.bytes);
      break;
    case "json":
      fields.push(body.canonical);
      break;
    case "form":
      for (const [name, value] of body.pairs) fields.push(name, value);
      break;
    case "multipart":
      fields.push(String(body.parts.length));
      for (const part of body.parts) {
        fields.push(part.name, ...optional(part.filename), ...optional(part.contentType));
        fields.push(part.content);
      }
      break;
  }
  return sha256Hex(lengthPrefixed(fields));
}

/** An optional value as two fields, so an absent one never equals an empty one. */
function optional(value: Uint8Array | null): Field[] {
  return value === null ? [ABSENT, NOTHING] : [PRESENT, value];
}

/**
 * How a body is compared under a mode (docs/configuration.md, "Comparing bodies"). In every mode, a
 * `multipart/form-data` body by its parts, since its boundary is drawn anew on every attempt.
 * Under `json`: a JSON document by its canonical form, a urlencoded form by its sorted pairs; an
 * empty body, any other type, and a JSON document RFC 8785 cannot represent exactly
 * (`strict-json.ts`, `exact`) by their bytes, which never equates two different requests.
 *
 * @param body - the read body; a multipart one must have been split into parts, and under
 *   `json`, a JSON one parsed (`parseBody`)
 * @example
 * comparedBody("json", { bytes, format: "form" }); // { kind: "form", pairs: … }
 */
export function comparedBody(mode: FingerprintMode, body: RequestBody): ComparedBody {
  if (body.format === "multipart") {
    if (body.parts === undefined) throw new TypeError("a multipart body must be parsed first");
    return { kind: "multipart", parts: body.parts };
  }
  const bytes: ComparedBody = { kind: "bytes", bytes: body.bytes };
  if (mode === "bytes") return bytes;
  switch (body.format) {
    case "json":
      if (body.json === undefined) throw new TypeError("a JSON body must be parsed first");
      return body.json.exact ? { kind: "json", canonical: canonicalJson(body.json.value) } : bytes;
    case "form":
      return { kind: "form", pairs: formPairs(body.bytes) };
    case "empty":
    case "other":
      return bytes;
  }
}
