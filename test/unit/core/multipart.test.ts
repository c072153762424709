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
