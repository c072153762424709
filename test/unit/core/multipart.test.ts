import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formBoundary,
  MAX_MULTIPART_PARTS,
  parseMultipart,
  type FormDataPart,
} from "../../../src/core/multipart";
import { parseParameterized } from "../../../src/core/multipart-parameters";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const FORM = "multipart/form-data; boundary=b";

function parse(body: string, contentType = FORM) {
  return parseMultipart(encoder.encode(body), contentType);
}

/** A part's four compared values as text (null stays null). */
function readable(part: FormDataPart) {
  const text = (b: Uint8Array | null) => (b === null ? null : decoder.decode(b));
  return {
    name: text(part.name),
    filename: text(part.filename),
    contentType: text(part.contentType),
    content: text(part.content),
  };
}

describe("parseMultipart", () => {
  it("reads each part's name, filename, content type and content, in order", () => {
    const result = parse(
      '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\none\r\n' +
        '--b\r\nContent-Disposition: form-data; name="f"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\ntwo\r\n\r\n' +
        "--b--\r\n",
    );
    expect(result.ok && result.parts.map(readable)).toEqual([
      { name: "a", filename: null, contentType: null, content: "one" },
      { name: "f", filename: "x.txt", contentType: "text/plain", content: "two\r\n" },
    ]);
  });

  it("takes a quoted boundary, and content that holds the boundary without a line break before it", () => {
    const result = parse(
      '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx--b y\r\n--b--',
      'multipart/form-data; boundary="b"',
    );
    expect(result.ok && result.parts.map(readable)).toEqual([
      { name: "a", filename: null, contentType: null, content: "x--b y" },
    ]);
  });

  it.each([
    ["no boundary", "--b--", "multipart/form-data"],
    ["an empty boundary", "----", "multipart/form-data; boundary="],
    [
      "a boundary of 71 characters",
      `--${"b".repeat(71)}--`,
      `${FORM.slice(0, -1)}${"b".repeat(71)}`,
    ],
    ["no delimiter", "just text", FORM],
    ["no closing delimiter", '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\none', FORM],
    [
      "a delimiter line that does not end in CRLF",
      '--bx\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n--b--',
      FORM,
    ],
    ["bare LF line ends", '--b\nContent-Disposition: form-data; name="a"\n\none\n--b--', FORM],
    ["a part without a name", "--b\r\nContent-Disposition: form-data\r\n\r\none\r\n--b--", FORM],
    [
      "a part without Content-Disposition",
      "--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b--",
      FORM,
    ],
    ["a part without headers", "--b\r\n\r\none\r\n--b--", FORM],
    [
      "a disposition other than form-data",
      '--b\r\nContent-Disposition: attachment; name="a"\r\n\r\n\r\n--b--',
      FORM,
    ],
    [
      "a name given twice",
      '--b\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\n\r\n--b--',
      FORM,
    ],
    [
      "two Content-Type fields",
      '--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n\r\n--b--',
      FORM,
    ],
    [
      "a filename* parameter",
      "--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''x\r\n\r\n\r\n--b--",
      FORM,
    ],
    [
      "a base64 transfer encoding",
      '--b\r\nContent-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64\r\n\r\nAA==\r\n--b--',
      FORM,
    ],
    [
      "a folded header line",
      '--b\r\nContent-Disposition: form-data;\r\n name="a"\r\n\r\n\r\n--b--',
      FORM,
    ],
    [
      "an unterminated quoted name",
      '--b\r\nContent-Disposition: form-data; name="a\r\n\r\n\r\n--b--',
      FORM,
    ],
    [
      "a header section that never ends",
      '--b\r\nContent-Disposition: form-data; name="a"\r\n--b--',
      FORM,
    ],
  ])("refuses a body with %s", (_, body, contentType) => {
    const result = parse(body, contentType);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason.length).toBeGreaterThan(0);
  });

  it(`refuses more than ${MAX_MULTIPART_PARTS} parts, and takes exactly that many`, () => {
    const part = '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n';
    const most = parse(part.repeat(MAX_MULTIPART_PARTS) + "--b--");
    expect(most.ok && most.parts.length).toBe(MAX_MULTIPART_PARTS);
    const over = parse(part.repeat(MAX_MULTIPART_PARTS + 1) + "--b--");
    expect(over).toEqual({ ok: false, reason: `it has more than ${MAX_MULTIPART_PARTS} parts` });
  });
});

describe("parseMultipart over generated forms", () => {
  const boundary = "Xy-0123";
  const delimiter = `\r\n--${boundary}`;
  /** Bytes rich in CR, LF, "-" and the boundary's letters: near-delimiters everywhere. */
  const tricky = fc
    .array(fc.constantFrom(13, 10, 45, 88, 121, 48, 49, 50, 51, 0, 255), { maxLength: 200 })
    .map((bytes) => Uint8Array.from(bytes));
  const part = fc.record({
    name: fc.stringMatching(/^[a-z_]{1,8}$/),
    filename: fc.option(fc.stringMatching(/^[a-z.]{0,8}$/), { nil: null }),
    content: tricky,
  });

  it("reads back the parts of any form it is given, whatever their bytes (property)", () => {
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), (parts) => {
        const pieces: Uint8Array[] = [];
        for (const p of parts) {
          const file = p.filename === null ? "" : `; filename="${p.filename}"`;
          const head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${file}\r\n\r\n`;
          pieces.push(encoder.encode(head), p.content, encoder.encode("\r\n"));
        }
        pieces.push(encoder.encode(`--${boundary}--`));
        const body = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of pieces) {
          body.set(p, at);
          at += p.length;
        }
        // A content that holds the delimiter (or runs into it) is not a form of these parts.
        fc.pre(parts.every((p) => !latin(p.content).includes(delimiter.slice(0, -1))));
        fc.pre(parts.every((p) => !latin(Uint8Array.of(...p.content, 13, 10)).includes(delimiter)));
        const result = parseMultipart(body, `multipart/form-data; boundary=${boundary}`);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(
          result.parts.map((p) => [latin(p.name), p.filename && latin(p.filename), p.content]),
        ).toEqual(parts.map((p) => [p.name, p.filename, p.content]));
      }),
    );
  });
});

/** Bytes as one character each, to search them as text. */
function latin(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

describe("formBoundary", () => {
  it("reads the boundary whatever the parameter's case, quoting or neighbours", () => {
    expect(formBoundary('Multipart/Form-Data; charset=utf-8; BOUNDARY="a b"')).toEqual({
      ok: true,
      boundary: "a b",
    });
  });
});

describe("parseParameterized", () => {
  it("keeps a quoted value as written, backslashes included, so two spellings never merge", () => {
    expect(parseParameterized('form-data; name="a\\"b"')?.parameters.get("name")).toBe('a\\"b');
    expect(parseParameterized('form-data; name="ab"')?.parameters.get("name")).toBe("ab");
  });
});
