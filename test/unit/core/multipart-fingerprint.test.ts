import { describe, expect, it } from "vitest";
import { comparedBody, fingerprintOf, type FingerprintMode } from "../../../src/core/fingerprint";
import { parseBody } from "../../../src/core/request-body";

const encoder = new TextEncoder();

/** Bytes from text (UTF-8) and byte pieces, concatenated: a body laid out by hand. */
function bytes(...pieces: (string | readonly number[])[]): Uint8Array {
  const parts = pieces.map((p) => (typeof p === "string" ? encoder.encode(p) : Uint8Array.from(p)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The fingerprint the gateway computes for a multipart request, in `mode`. */
async function printOf(
  method: string,
  path: string,
  query: string,
  boundary: string,
  body: Uint8Array,
  mode: FingerprintMode = "bytes",
): Promise<string> {
  const read = parseBody(body, `multipart/form-data; boundary=${boundary}`, {
    parseJson: mode === "json",
    parseMultipart: true,
  });
  if (!read.ok) throw new Error(read.reason);
  return fingerprintOf({ method, path, query }, comparedBody(mode, read.body));
}

/** A PDF's first bytes: CRLFs and bytes above 0x7F inside a part. */
const PDF = [
  0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x37, 13, 10, 0x25, 0xe2, 0xe3, 0xcf, 0xd3, 13, 10,
];

/** One form, `purpose` then `file`, under a given boundary, preamble and epilogue. */
function upload(boundary: string, preamble = "", epilogue = ""): Uint8Array {
  return bytes(
    preamble,
    `--${boundary}\r\n`,
    'Content-Disposition: form-data; name="purpose"\r\n\r\n',
    "dispute_evidence\r\n",
    `--${boundary}\r\n`,
    'Content-Disposition: form-data; name="file"; filename="receipt.pdf"\r\n',
    "Content-Type: application/pdf\r\n\r\n",
    PDF,
    `\r\n--${boundary}--`,
    epilogue,
  );
}

/**
 * Known answers of `fingerprint/v3-multipart` (docs/adr/0007), computed outside this code by a
 * short Python 3 script with `hashlib` and `struct`, from the parts written out by hand (never by
 * parsing a body):
 *
 *     def field(b): b = b.encode() if isinstance(b, str) else b; return struct.pack(">I", len(b)) + b
 *     def opt(v): return field("0") + field(b"") if v is None else field("1") + field(v)
 *     def fp(method, path, query, parts):
 *         out = field("fingerprint/v3-multipart") + field(method) + field(path) + field(query)
 *         out += field(str(len(parts)))
 *         for name, filename, ctype, content in parts:
 *             out += field(name) + opt(filename) + opt(ctype) + field(content)
 *         return hashlib.sha256(out).hexdigest()
 *     fp("POST", "/v1/files", "", [(b"purpose", None, None, b"dispute_evidence"),
 *        (b"file", b"receipt.pdf", b"application/pdf", b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n")])
 *
 * DO NOT EDIT these digests to make a test pass: every stored record keeps the fingerprint of its
 * first request, and a changed digest refuses every honest retry of a stored key with 422. A new
 * encoding takes a new version tag, and new vectors.
 */
const VECTORS = {
  // fp("POST", "/v1/files", "", [(b"purpose", None, None, b"dispute_evidence"),
  //    (b"file", b"receipt.pdf", b"application/pdf", b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n")])
  upload: "30114661763bea6b9b21424bc62d759dcfbd01be273e2dd00bb5213a3495a79a",
  // fp("POST", "/v1/files", "", [(b"file", b"", None, b"")])
  emptyFilename: "53b1622606ffa7328c294c51ea6c0f2e69862b0505d30d61b5fee6918ce47a93",
  // fp("POST", "/v1/files", "", [(b"file", None, None, b"")])
  absentFilename: "3aad0236f455dddaacc2010a93189055db11150dbe52adeaf363105c07ccc7b1",
  // fp("POST", "/v1/forms", "a=1", [])
  noParts: "65d1ce311944b5fd6c58468337b43351fa8b221dc0fe8cfae21a347c74afcbe1",
  // fp("PATCH", "/v1/accounts/acct_1", "", [("montant€".encode("utf-8"), None,
  //    b"text/plain; charset=utf-8", b"12,50"), (b"blob", b"a b%22.bin",
  //    b"application/octet-stream", bytes([0, 255, 13, 10, 45, 45]))])
  utf8Binary: "1f26f49d0ec9c8ba460cb17f38d7ee51c626a38a0df06176bced990cde01ef57",
} as const;

describe("fingerprint/v3-multipart known answers", () => {
  it("fingerprints a document upload by its parts, as the independently computed vector says", async () => {
    expect(await printOf("POST", "/v1/files", "", "b1", upload("b1"))).toBe(VECTORS.upload);
  });

  it("tells an empty filename from an absent one", async () => {
    const empty = bytes(
      "--x\r\n",
      'Content-Disposition: form-data; name="file"; filename=""\r\n\r\n',
      "\r\n--x--\r\n",
    );
    const absent = bytes(
      "--x\r\n",
      'Content-Disposition: form-data; name="file"\r\n\r\n',
      "\r\n--x--",
    );
    expect(await printOf("POST", "/v1/files", "", "x", empty)).toBe(VECTORS.emptyFilename);
    expect(await printOf("POST", "/v1/files", "", "x", absent)).toBe(VECTORS.absentFilename);
  });

  it("fingerprints a form without parts", async () => {
    expect(await printOf("POST", "/v1/forms", "a=1", "x", bytes("--x--\r\n"))).toBe(
      VECTORS.noParts,
    );
  });

  it("keeps UTF-8 names, part content types and binary content as bytes", async () => {
    const body = bytes(
      "--=_q\r\n",
      'Content-Disposition: form-data; name="montant€"\r\n',
      "Content-Type: text/plain; charset=utf-8\r\n\r\n",
      "12,50\r\n",
      "--=_q\r\n",
      'content-disposition: form-data; name=blob; filename="a b%22.bin"\r\n',
      "content-type:application/octet-stream\r\n\r\n",
      [0, 255, 13, 10, 45, 45],
      "\r\n--=_q--",
    );
    expect(await printOf("PATCH", "/v1/accounts/acct_1", "", "=_q", body)).toBe(VECTORS.utf8Binary);
  });
});

describe("multipart bodies compared by their parts", () => {
  it.each<FingerprintMode>(["bytes", "json"])(
    "gives one form under two boundaries, preambles and epilogues one fingerprint (mode %s)",
    async (mode) => {
      const first = await printOf("POST", "/v1/files", "", "b1", upload("b1"), mode);
      const retry = await printOf(
        "POST",
        "/v1/files",
        "",
        "----formdata-undici-0123456789",
        upload("----formdata-undici-0123456789", "a preamble\r\n", "\r\nan epilogue"),
        mode,
      );
      expect(first).toBe(VECTORS.upload);
      expect(retry).toBe(first);
    },
  );

  it("ignores transport padding after a delimiter and part headers other than the four compared", async () => {
    const padded = bytes(
      "--b1 \t\r\n",
      "Content-Length: 16\r\n",
      'Content-Disposition: form-data; name="purpose"\r\n',
      "Content-Transfer-Encoding: binary\r\n\r\n",
      "dispute_evidence\r\n",
      "--b1\r\n",
      'Content-Disposition: form-data; filename="receipt.pdf"; name="file"\r\n',
      "Content-Type: application/pdf\r\n\r\n",
      PDF,
      "\r\n--b1--",
    );
    expect(await printOf("POST", "/v1/files", "", "b1", padded)).toBe(VECTORS.upload);
  });

  it.each([
    ["part content", upload("b1").map((b, i, all) => (i === all.length - 9 ? 0x0b : b))],
    ["order of parts", reorderedUpload()],
    ["part content type", bytes(...uploadWith("Content-Type: application/x-pdf"))],
    ["filename", bytes(...uploadWith('filename="receipt2.pdf"'))],
  ])("does NOT give a form with another %s the same fingerprint", async (_, other) => {
    const print = await printOf("POST", "/v1/files", "", "b1", other);
    expect(print).not.toBe(VECTORS.upload);
  });

  it("never equals the bytes encoding of the same body (fingerprint/v1)", async () => {
    const body = upload("b1");
    const asBytes = await fingerprintOf(
      { method: "POST", path: "/v1/files", query: "" },
      { kind: "bytes", bytes: body },
    );
    expect(asBytes).not.toBe(VECTORS.upload);
  });
});

/** `upload("b1")` with its two parts swapped. */
function reorderedUpload(): Uint8Array {
  return bytes(
    "--b1\r\n",
    'Content-Disposition: form-data; name="file"; filename="receipt.pdf"\r\n',
    "Content-Type: application/pdf\r\n\r\n",
    PDF,
    "\r\n--b1\r\n",
    'Content-Disposition: form-data; name="purpose"\r\n\r\n',
    "dispute_evidence\r\n",
    "--b1--",
  );
}

/** `upload("b1")`'s pieces with one header line of the file part replaced. */
function uploadWith(change: string): (string | readonly number[])[] {
  const disposition = change.startsWith("filename")
    ? `Content-Disposition: form-data; name="file"; ${change}\r\n`
    : 'Content-Disposition: form-data; name="file"; filename="receipt.pdf"\r\n';
  const type = change.startsWith("Content-Type")
    ? `${change}\r\n\r\n`
    : "Content-Type: application/pdf\r\n\r\n";
  return [
    "--b1\r\n",
    'Content-Disposition: form-data; name="purpose"\r\n\r\n',
    "dispute_evidence\r\n",
    "--b1\r\n",
    disposition,
    type,
    PDF,
    "\r\n--b1--",
  ];
}
