import { lengthPrefixed, sha256Hex } from "./canonical-encoding";

/** The parts of a request that must match for a retry to count as the same request. */
export interface FingerprintInput {
  method: string;
  /** The path as the client sent it (percent-encoding untouched). */
  path: string;
  /** The query string without its leading `?` ("" when there is none). */
  query: string;
  body: Uint8Array;
}

/** Bumped if the encoding ever changes, so old and new fingerprints can never collide. */
const FINGERPRINT_VERSION = "fingerprint/v1";

/**
 * SHA-256 (hex) over a length-prefixed encoding of the method, path, query and body
 * (README, "The fingerprint"; docs/adr/0004).
 *
 * @example
 * await fingerprint({ method: "POST", path: "/v1/payments", query: "", body: new Uint8Array() });
 */
export function fingerprint(input: FingerprintInput): Promise<string> {
  return sha256Hex(
    lengthPrefixed([FINGERPRINT_VERSION, input.method, input.path, input.query, input.body]),
  );
}
