import net from "node:net";

/**
 * HTTP/1.1 over a bare `node:net` socket: the request goes out exactly as written, byte for byte,
 * where `fetch` would normalise it (header values re-encoded, framing rewritten, a GET's body
 * refused), and every answer on the connection is read back, the extra ones included (a body
 * shorter than its `Content-Length` leaves bytes the server reads as another request).
 */

/** One HTTP answer as it came over the wire. */
export interface RawAnswer {
  status: number;
  /** Header fields in order, names lowercased, values as latin-1 text (the bytes, one per char). */
  headers: [string, string][];
  body: Uint8Array;
}

/** What one connection carried back. */
export interface RawExchange {
  /** Every complete answer, in order. */
  answers: RawAnswer[];
  /** Bytes after the last complete answer (a truncated one), if any. */
  leftover: number;
  /** The status of a truncated answer after the complete ones: its head came, its body did not. */
  truncatedStatus?: number;
  /** The connection neither closed nor answered within the timeout. */
  timedOut: boolean;
  /** A socket error (a reset, a refused connection), if one ended the exchange. */
  error?: string;
}

/** Options of `exchange`. */
export interface ExchangeOptions {
  /** How long to wait for the server to close the connection. */
  timeoutMs: number;
  /** The request's method, which decides whether its answer has a body (`HEAD`: never). */
  method: string;
  /**
   * Shut the sending side once the request is written, so that a body shorter than it claimed
   * ends there instead of holding the connection open until the timeout.
   */
  halfClose?: boolean;
}

/**
 * Writes `request` to 127.0.0.1:`port` and reads until the server closes the connection (the
 * request should say `Connection: close`) or `timeoutMs` passes, then parses every answer.
 * Never rejects: a failure is in the result.
 *
 * @example
 * const { answers } = await exchange(8787, bytes, { timeoutMs: 5_000, method: "POST" });
 */
export function exchange(
  port: number,
  request: Uint8Array,
  { timeoutMs, method, halfClose = false }: ExchangeOptions,
): Promise<RawExchange> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ host: "127.0.0.1", port });
    const finish = (timedOut: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const bytes = Buffer.concat(parts);
      const { answers, leftover } = parseAnswers(bytes, method);
      const rest = bytes.subarray(bytes.length - leftover).toString("latin1");
      const head = /^HTTP\/1\.[01] (\d{3})/.exec(rest);
      resolve({
        answers,
        leftover,
        timedOut,
        ...(head === null ? {} : { truncatedStatus: Number(head[1]) }),
        ...(error === undefined ? {} : { error }),
      });
    };
    const timer = setTimeout(() => finish(true), timeoutMs);
    socket.on("connect", () => {
      socket.write(request);
      if (halfClose) socket.end();
    });
    socket.on("data", (part: Buffer) => parts.push(part));
    socket.on("end", () => finish(false));
    socket.on("close", () => finish(false));
    socket.on("error", (error: Error) => finish(false, error.message));
  });
}

/** Statuses whose answers never carry content (RFC 9110 §6.4.1). */
function bodyless(status: number, method: string): boolean {
  return method === "HEAD" || status < 200 || status === 204 || status === 304;
}

/** Parses the answers in `bytes`, stopping at the first incomplete one. */
export function parseAnswers(
  bytes: Buffer,
  method: string,
): { answers: RawAnswer[]; leftover: number } {
  const answers: RawAnswer[] = [];
  let at = 0;
  for (;;) {
    const parsed = parseOne(bytes, at, method);
    if (parsed === null) break;
    answers.push(parsed.answer);
    at = parsed.end;
    if (at >= bytes.length) break;
  }
  return { answers, leftover: bytes.length - at };
}

function parseOne(
  bytes: Buffer,
  start: number,
  method: string,
): { answer: RawAnswer; end: number } | null {
  const headEnd = bytes.indexOf("\r\n\r\n", start, "latin1");
  if (headEnd === -1) return null;
  const lines = bytes.subarray(start, headEnd).toString("latin1").split("\r\n");
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? "");
  if (statusLine === null) return null;
  const status = Number(statusLine[1]);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  const field = (name: string) => headers.find(([n]) => n === name)?.[1];
  let at = headEnd + 4;
  if (bodyless(status, method))
    return { answer: { status, headers, body: new Uint8Array() }, end: at };
  if (/\bchunked\b/i.test(field("transfer-encoding") ?? "")) {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf("\r\n", at, "latin1");
      if (lineEnd === -1) return null;
      const size = parseInt(bytes.subarray(at, lineEnd).toString("latin1").split(";")[0] ?? "", 16);
      if (!Number.isFinite(size)) return null;
      at = lineEnd + 2;
      if (size === 0) {
        // Trailer fields, then the empty line.
        const trailerEnd = bytes.indexOf("\r\n\r\n", at - 2, "latin1");
        if (trailerEnd === -1) return null;
        at = trailerEnd + 4;
        break;
      }
      if (at + size + 2 > bytes.length) return null;
      chunks.push(bytes.subarray(at, at + size));
      at += size + 2;
    }
    return { answer: { status, headers, body: Buffer.concat(chunks) }, end: at };
  }
  const length = field("content-length");
  if (length !== undefined) {
    const n = Number(length);
    if (at + n > bytes.length) return null;
    return { answer: { status, headers, body: bytes.subarray(at, at + n) }, end: at + n };
  }
  // Delimited by the end of the connection.
  return { answer: { status, headers, body: bytes.subarray(at) }, end: bytes.length };
}

/** One request to write: the parts `fetch` would not let a caller choose. */
export interface RawRequest {
  method: string;
  /** The request target as sent (path and query). */
  target: string;
  /** Header fields in order; a value may hold any bytes. */
  headers: [string, string | Uint8Array][];
  /** The bytes after the header block, framing included (chunks are written by the caller). */
  body: Uint8Array;
}

/** Serialises a request: request line, fields (values as bytes), an empty line, the body. */
export function serialize(request: RawRequest): Uint8Array {
  const head: Buffer[] = [
    Buffer.from(`${request.method} ${request.target} HTTP/1.1\r\n`, "latin1"),
  ];
  for (const [name, value] of request.headers) {
    head.push(Buffer.from(`${name}: `, "latin1"));
    head.push(typeof value === "string" ? Buffer.from(value, "latin1") : Buffer.from(value));
    head.push(Buffer.from("\r\n", "latin1"));
  }
  head.push(Buffer.from("\r\n", "latin1"), Buffer.from(request.body));
  return Buffer.concat(head);
}

/** `body` in chunked transfer coding (RFC 9112 §7.1), cut into pieces of at most `piece` bytes. */
export function chunked(body: Uint8Array, piece: number, extension = "", trailer = ""): Uint8Array {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += piece) {
    const part = body.subarray(at, Math.min(at + piece, body.length));
    out.push(Buffer.from(`${part.length.toString(16)}${extension}\r\n`, "latin1"));
    out.push(Buffer.from(part), Buffer.from("\r\n", "latin1"));
  }
  out.push(Buffer.from(`0\r\n${trailer}\r\n`, "latin1"));
  return Buffer.concat(out);
}
