import { lengthPrefixed, sha256Hex, type Field } from "./canonical-encoding";
import { canonicalJson } from "./canonical-json";
import { formPairs, type FormPair } from "./form-pairs";
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
  | { kind: "form"; pairs: readonly FormPair[] };

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
};

/**
 * SHA-256 (hex) over a length-prefixed encoding of the method, path, query and body bytes
 * (README, "The fingerprint"; docs/adr/0004).
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
 * value its own length-prefixed field), under the form's own version tag.
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
  }
  return sha256Hex(lengthPrefixed(fields));
}

/**
 * How a body is compared under a mode (README, "Comparing bodies"). Under `json`: a JSON
 * document by its canonical form, a form by its sorted pairs; an empty body, any other type, and
 * a JSON document RFC 8785 cannot represent exactly (`strict-json.ts`, `exact`) by their bytes,
 * which never equates two different requests.
 *
 * @param body - the read body; under `json`, a JSON body must have been parsed (`parseBody`)
 * @example
 * comparedBody("json", { bytes, format: "form" }); // { kind: "form", pairs: … }
 */
export function comparedBody(mode: FingerprintMode, body: RequestBody): ComparedBody {
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
