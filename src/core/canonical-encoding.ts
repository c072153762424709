/**
 * The unambiguous byte encoding under every hash the gateway computes (fingerprint and key
 * identity). Each field is a 4-byte big-endian length followed by its bytes, so no choice of
 * field contents can make two different field lists encode alike — unlike joining with a
 * delimiter, which a field may contain.
 */

const encoder = new TextEncoder();

/** A field: text (encoded as UTF-8) or raw bytes. */
export type Field = string | Uint8Array;

/**
 * Length-prefixes each field and concatenates them.
 *
 * @example
 * lengthPrefixed(["ab", "c"]); // 00 00 00 02 61 62 00 00 00 01 63
 */
export function lengthPrefixed(fields: readonly Field[]): Uint8Array {
  const bytes = fields.map((field) => (typeof field === "string" ? encoder.encode(field) : field));
  let total = 0;
  for (const b of bytes) total += 4 + b.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const b of bytes) {
    view.setUint32(offset, b.byteLength);
    out.set(b, offset + 4);
    offset += 4 + b.byteLength;
  }
  return out;
}

/** SHA-256 of the bytes, as lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
