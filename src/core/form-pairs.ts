/**
 * The pairs of an `application/x-www-form-urlencoded` body, in the order the `json` fingerprint
 * compares them: sorted by name, with the values of a repeated name kept in the order sent
 * (`a=2&b=1&a=1` is `a=2, a=1, b=1`), because order between names carries no meaning for a form
 * but order among one name's values can (a list). Pure.
 *
 * Pairs are split and decoded as the URL Standard's urlencoded parser does (§5.1: split on `&`,
 * drop empty pieces, split at the first `=`, `+` is a space, then percent-decode), but names and
 * values stay bytes: decoding them as UTF-8 would turn every invalid sequence into U+FFFD, so
 * `a=%FF` and `a=%FE` would compare equal while the origin may read them differently.
 */

/** One name/value pair, percent-decoded, as bytes. */
export type FormPair = readonly [name: Uint8Array, value: Uint8Array];

const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const PLUS = 0x2b;
const PERCENT = 0x25;
const SPACE = 0x20;

/**
 * The decoded pairs of a form body, sorted by name (bytewise), stable for repeated names.
 *
 * @example
 * formPairs(new TextEncoder().encode("b=2&a=1")); // [[a, 1], [b, 2]] as bytes
 */
export function formPairs(body: Uint8Array): FormPair[] {
  const pairs: FormPair[] = [];
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(AMPERSAND, start);
    if (end === -1) end = body.length;
    if (end > start) {
      const piece = body.subarray(start, end);
      const equals = piece.indexOf(EQUALS);
      const name = equals === -1 ? piece : piece.subarray(0, equals);
      const value = equals === -1 ? new Uint8Array() : piece.subarray(equals + 1);
      pairs.push([percentDecode(name), percentDecode(value)]);
    }
    start = end + 1;
  }
  // Array.prototype.sort is stable (ECMAScript 2019), which keeps repeated names in order.
  return pairs.sort(([a], [b]) => compareBytes(a, b));
}

/** URL Standard §1.3 "percent-decode", after `+` → space (§5.1 step 3.4). */
function percentDecode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length);
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    if (byte === PERCENT && i + 2 < input.length) {
      const high = hexValue(input[i + 1] as number);
      const low = hexValue(input[i + 2] as number);
      if (high !== -1 && low !== -1) {
        out[length++] = high * 16 + low;
        i += 2;
        continue;
      }
    }
    out[length++] = byte === PLUS ? SPACE : byte;
  }
  return out.subarray(0, length);
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}
