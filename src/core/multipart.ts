import { parseParameterized } from "./multipart-parameters";

/**
 * The parts of a `multipart/form-data` body (RFC 7578, in the syntax of RFC 2046 §5.1.1), for the
 * comparison of retries. Pure.
 *
 * An HTTP library encodes a form anew on every attempt with a new random boundary, so an SDK that
 * re-sends one form sends the same request in other bytes. What a form means is its parts, in
 * order: each one's name, filename, content type and content. The boundary, the preamble before
 * the first delimiter, the epilogue after the last, a delimiter's transport padding and every other
 * part header are transfer artefacts, and are not compared (docs/adr/0007).
 *
 * Strict where leniency could take two different forms for one: lines end in CRLF; every part has
 * exactly one `Content-Disposition: form-data` with a `name`; a header section that does not
 * parse, a part repeated past `MAX_MULTIPART_PARTS`, or a body without its closing delimiter is
 * refused, and the gateway answers `400 malformed-body` with nothing forwarded.
 */

/** One part, as its fingerprint compares it. Texts are bytes as sent (header values latin1). */
export interface FormDataPart {
  /** The `name` parameter of `Content-Disposition`, as written (quotes removed). */
  name: Uint8Array;
  /** The `filename` parameter, or `null` when the part has none (`filename=""` is a filename). */
  filename: Uint8Array | null;
  /** The part's `Content-Type` as sent, or `null` when it has none (not defaulted). */
  contentType: Uint8Array | null;
  /** The part's content, byte for byte. */
  content: Uint8Array;
}

/**
 * The most parts a form may have. A body is already bounded by `IDEMPOTENCY_MAX_BODY_BYTES`, but
 * a 1 MiB body of empty parts is some 20 000 of them, each an object and six fingerprint fields;
 * forms that payment APIs take (a document upload, a dispute's evidence) have a handful.
 */
export const MAX_MULTIPART_PARTS = 1000;

/** The parts, or why the body is not a form the gateway can compare. */
export type MultipartResult = { ok: true; parts: FormDataPart[] } | { ok: false; reason: string };

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const SPACE = 0x20;
const TAB = 0x09;

/**
 * RFC 2046 §5.1.1: 1 to 70 of `bchars`, not ending in a space. Checked so that a boundary a
 * conforming parser would refuse is refused here too, rather than read another way.
 */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

/**
 * Transfer encodings that leave a part's bytes as they are (RFC 2045 §6.2). RFC 7578 §4.7 says
 * senders must not use any; some old clients still write `binary`. Another one (`base64`…)
 * means the bytes are not the content, and is refused rather than compared as if they were.
 */
const IDENTITY_ENCODINGS: ReadonlySet<string> = new Set(["7bit", "8bit", "binary"]);

/**
 * The boundary named by a `multipart/form-data` Content-Type, or why there is none.
 *
 * @example
 * formBoundary('multipart/form-data; boundary="----b1"'); // { ok: true, boundary: "----b1" }
 */
export function formBoundary(
  contentType: string,
): { ok: true; boundary: string } | { ok: false; reason: string } {
  const parsed = parseParameterized(contentType);
  if (parsed === null) return { ok: false, reason: "its Content-Type header does not parse" };
  const boundary = parsed.parameters.get("boundary");
  if (boundary === undefined) return { ok: false, reason: "its Content-Type names no boundary" };
  if (!BOUNDARY.test(boundary)) {
    return { ok: false, reason: "its boundary is not 1 to 70 characters of RFC 2046 §5.1.1" };
  }
  return { ok: true, boundary };
}

/**
 * The parts of a `multipart/form-data` body, in order.
 *
 * @param contentType - the request's Content-Type (its `boundary` parameter delimits the parts)
 * @example
 * parseMultipart(body, "multipart/form-data; boundary=b"); // { ok: true, parts: [{ name, … }] }
 */
export function parseMultipart(body: Uint8Array, contentType: string): MultipartResult {
  const found = formBoundary(contentType);
  if (!found.ok) return found;
  const dash = bytesOf(`--${found.boundary}`);
  // RFC 2046 §5.1.1: a delimiter is CRLF "--" boundary; the first may open the body itself.
  const nextDelimiter = finder(bytesOf(`\r\n--${found.boundary}`));
  let at = startsWith(body, dash, 0) ? 0 : nextDelimiter(body, 0);
  if (at === -1) return { ok: false, reason: "it has no delimiter line with its boundary" };
  if (at > 0) at += 2;
  const parts: FormDataPart[] = [];
  for (;;) {
    let next = at + dash.length;
    // The close delimiter: what follows it (the epilogue) is not part of the form.
    if (body[next] === DASH && body[next + 1] === DASH) return { ok: true, parts };
    while (body[next] === SPACE || body[next] === TAB) next++;
    if (body[next] !== CR || body[next + 1] !== LF) {
      return { ok: false, reason: "a delimiter line does not end in CRLF" };
    }
    const start = next + 2;
    const end = nextDelimiter(body, start);
    if (end === -1) return { ok: false, reason: "it has no closing delimiter" };
    if (parts.length === MAX_MULTIPART_PARTS) {
      return { ok: false, reason: `it has more than ${MAX_MULTIPART_PARTS} parts` };
    }
    const part = readPart(body.subarray(start, end));
    if (!part.ok) return part;
    parts.push(part.part);
    at = end + 2;
  }
}

/** A part's header section and content (RFC 2046 §5.1.1: headers, an empty line, content). */
function readPart(
  bytes: Uint8Array,
): { ok: true; part: FormDataPart } | { ok: false; reason: string } {
  // No header fields: the part starts with its empty line (refused below: it has no name).
  const headerEnd = startsWith(bytes, CRLF, 0) ? -2 : headerSectionEnd(bytes, 0);
  if (headerEnd === -1) return { ok: false, reason: "a part's header section does not end" };
  const section = headerEnd <= 0 ? "" : latin1(bytes.subarray(0, headerEnd));
  const content = bytes.subarray(headerEnd + 4);
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of section === "" ? [] : section.split("\r\n")) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    // Folded lines (obs-fold) and lines without a field name are not a header section.
    if (colon <= 0 || !FIELD_NAME.test(name)) {
      return { ok: false, reason: "a part has a header line that does not parse" };
    }
    const value = line.slice(colon + 1).replace(OWS_AROUND, "");
    switch (name.toLowerCase()) {
      case "content-disposition":
        if (disposition !== undefined) return twice("Content-Disposition");
        disposition = value;
        break;
      case "content-type":
        if (contentType !== undefined) return twice("Content-Type");
        contentType = value;
        break;
      case "content-transfer-encoding":
        if (!IDENTITY_ENCODINGS.has(value.toLowerCase())) {
          return { ok: false, reason: "a part has a Content-Transfer-Encoding (RFC 7578 §4.7)" };
        }
        break;
      // Any other field (a per-part Content-Length, say) is the sender's, not the form's.
    }
  }
  if (disposition === undefined) {
    return { ok: false, reason: "a part has no Content-Disposition (RFC 7578 §4.2)" };
  }
  const parsed = parseParameterized(disposition);
  if (parsed === null || parsed.value !== "form-data") {
    return { ok: false, reason: "a part's Content-Disposition is not form-data with parameters" };
  }
  const name = parsed.parameters.get("name");
  if (name === undefined) return { ok: false, reason: "a part has no name (RFC 7578 §4.2)" };
  if (parsed.parameters.has("filename*")) {
    // RFC 7578 §4.2: "filename*" MUST NOT be used; which of two names an origin takes is unknown.
    return { ok: false, reason: 'a part has a "filename*" parameter (RFC 7578 §4.2)' };
  }
  const filename = parsed.parameters.get("filename");
  return {
    ok: true,
    part: {
      name: bytesOf(name),
      filename: filename === undefined ? null : bytesOf(filename),
      contentType: contentType === undefined ? null : bytesOf(contentType),
      content,
    },
  };
}

function twice(field: string): { ok: false; reason: string } {
  return { ok: false, reason: `a part has more than one ${field}` };
}

const CRLF = Uint8Array.of(CR, LF);
/** A field name: a token (RFC 9110 §5.1). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Optional whitespace around a field value (RFC 9110 §5.5). */
const OWS_AROUND = /^[ \t]+|[ \t]+$/g;
const headerSectionEnd = finder(Uint8Array.of(CR, LF, CR, LF));

/** Text whose characters are all below 256 as one byte each (the inverse of `latin1`). */
function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const ascii = new TextDecoder();

/**
 * Bytes as a string of one character per byte. Not `TextDecoder("latin1")`, which the Encoding
 * Standard maps to windows-1252 (0x80–0x9F become other characters).
 */
function latin1(bytes: Uint8Array): string {
  // Most header sections are ASCII, which every decoder reads one character per byte.
  if (bytes.every((byte) => byte < 0x80)) return ascii.decode(bytes);
  let text = "";
  // In slices: `apply` passes each byte as an argument, and engines cap the argument count.
  for (let at = 0; at < bytes.length; at += 8192) {
    text += String.fromCharCode.apply(null, Array.from(bytes.subarray(at, at + 8192)));
  }
  return text;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/**
 * A search for `needle` (Boyer–Moore–Horspool): it compares the last byte of each window first
 * and skips ahead by up to the needle's length, so a delimiter of some 40 bytes is found in a
 * large part after reading a small share of it, and a form of many small parts costs no call per
 * CR.
 *
 * @returns the first index at or after `from` where `needle` occurs in `bytes`, or -1
 */
function finder(needle: Uint8Array): (bytes: Uint8Array, from: number) => number {
  const last = needle.length - 1;
  const shift = new Uint8Array(256).fill(Math.min(needle.length, 255));
  for (let i = 0; i < last; i++) shift[needle[i] as number] = Math.min(last - i, 255);
  return function find(bytes, from) {
    for (
      let at = from;
      at + last < bytes.length;
      at += shift[bytes[at + last] as number] as number
    ) {
      let j = last;
      while (j >= 0 && bytes[at + j] === needle[j]) j--;
      if (j < 0) return at;
    }
    return -1;
  };
}
