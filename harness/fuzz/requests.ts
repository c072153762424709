import { patternBytes } from "../test-origin.ts";
import type { ApiCase, BodySpec, Framing, KeySpec, Oddity, ScopeSpec } from "./cases.ts";
import { FUZZ_ROUTES, type RouteModel } from "./config.ts";
import { chunked, serialize, type RawRequest } from "./raw-http.ts";

/**
 * Turns a case into the bytes on the wire, and says what the contract expects of it: the model
 * the invariants check the gateway's answers against (docs/configuration.md, "The key", "Outcomes"). The model
 * is written from the README, not from the gateway's code.
 */

/** A request ready to send, and the model's view of it. */
export interface BuiltRequest {
  bytes: Uint8Array;
  method: string;
  /** The content the origin must receive if the request is forwarded (none for GET and HEAD). */
  content: Uint8Array;
  /** A method the route covers, on a route with a key source (README, "How it works"). */
  covered: boolean;
  /** Covered, and a key where the route reads it. */
  keyed: boolean;
  /** The key is valid by construction (docs/configuration.md, "The key": 1 to 255 printable ASCII, one field). */
  keyValid: boolean;
  /** The scope headers are present, and readable (valid UTF-8). */
  scopeValid: boolean;
  /**
   * Not valid HTTP/1.1: the runtime may answer it itself, and if the gateway forwards it, the
   * origin's HTTP server may refuse it.
   */
  broken: boolean;
  /**
   * A GET or HEAD whose body ends before its framing says: `wrangler dev` never answers it (the
   * gateway does, but the answer is not delivered), so the fuzzer waits only briefly.
   */
  mayNotAnswer: boolean;
  /**
   * A field value holds a control byte workerd lets through (not NUL, CR or LF): the gateway
   * forwards it, and the origin's HTTP server (Node's) refuses it, with a bare `400`, or by
   * closing the connection while the body is still on its way.
   */
  originMayRefuse: boolean;
  /** The request's content is JSON by its `Content-Type` (README: `application/json`, `+json`). */
  jsonContent: boolean;
}

/** What a follow-up changes in a case's request. */
export interface Variation {
  scope?: ScopeSpec;
  framing?: Framing;
  oddity?: Oddity;
  body?: BodySpec;
  contentType?: string | null;
  /** Re-serialize a JSON body: other member order and spacing, the same meaning. */
  reserialize?: boolean;
}

/** The longest key (docs/configuration.md, "The key"). */
const MAX_KEY = 255;

/** The content types the README calls JSON: `application/json` or any `+json`, any case. */
export function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const essence = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return essence === "application/json" || /^[^/\s]+\/[^/\s]+\+json$/.test(essence);
}

/** The scope's header fields, as bytes. */
export function scopeFields(scope: ScopeSpec): [string, Uint8Array][] {
  const text = (value: string) => new TextEncoder().encode(value);
  const bytes = (prefix: string, tail: number[]) => Uint8Array.from([...text(prefix), ...tail]);
  switch (scope.kind) {
    case "bearer":
      return [["Authorization", text(`Bearer sk_${scope.token}`)]];
    case "utf8":
      return [["Authorization", text(`Bearer clé_${scope.token}`)]];
    case "api-key":
      return [["X-API-Key", text(scope.token)]];
    case "invalid":
      return [["Authorization", bytes("Bearer ", scope.bytes)]];
    case "invalid-api-key":
      return [
        ["Authorization", text(`Bearer sk_${scope.token}`)],
        ["X-API-Key", bytes("key_", scope.bytes)],
      ];
    case "absent":
      return [];
    case "empty":
      return [["Authorization", new Uint8Array()]];
  }
}

/** Whether the scope is present and readable. */
export function scopeIsValid(scope: ScopeSpec): boolean {
  return scope.kind === "bearer" || scope.kind === "utf8" || scope.kind === "api-key";
}

/**
 * Another caller's scope of the same kind: a different token, or different bytes that are not
 * UTF-8 either (which the runtime reads as the same U+FFFD). `null` for a scope without a value.
 */
export function otherScope(scope: ScopeSpec): ScopeSpec | null {
  // Another byte no UTF-8 sequence starts with, in first place: still not UTF-8, still different.
  const swap: Record<number, number> = { 0x80: 0xbf, 0xbf: 0x80, 0xfe: 0xff, 0xff: 0xfe };
  const flip = (bytes: number[]) => bytes.map((b, i) => (i === 0 ? (swap[b] ?? 0xff) : b));
  switch (scope.kind) {
    case "bearer":
    case "utf8":
    case "api-key":
      return { ...scope, token: `${scope.token}_other` };
    case "invalid":
      return { kind: "invalid", bytes: flip(scope.bytes) };
    case "invalid-api-key":
      return { ...scope, bytes: flip(scope.bytes) };
    case "absent":
    case "empty":
      return null;
  }
}

/** The key's text for a header, or `null` when the case sends it some other way. */
function keyText(spec: KeySpec, nonce: string, idempotencyKeyField: boolean): string | null {
  if (spec.kind !== "valid") return null;
  // The quoted form only exists for Idempotency-Key; elsewhere the quotes are part of the key.
  const quoted = spec.form === "quoted";
  // Commas would read as two fields where the field is not a quoted string.
  const filler = quoted && idempotencyKeyField ? spec.filler : spec.filler.replaceAll(",", "");
  let bare = nonce + filler;
  if (quoted && !idempotencyKeyField) {
    // The key is the quoted text as sent: keep it within the limit, quotes and escapes included.
    let escaped = escape(bare);
    while (escaped.length > MAX_KEY - 2) escaped = escape((bare = bare.slice(0, -1)));
    if (spec.max) escaped = escaped.padEnd(MAX_KEY - 2, "x");
    return `"${escaped}"`;
  }
  bare = spec.max ? bare.padEnd(MAX_KEY, "x").slice(0, MAX_KEY) : bare.slice(0, MAX_KEY);
  // A header value loses its trailing whitespace on the way in: the key is what remains.
  if (!quoted) return bare;
  return `"${escape(bare)}"`;
}

function escape(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
}

/** The key's value in a JSON member, or `undefined` for none. */
function keyMember(spec: KeySpec, nonce: string): unknown {
  switch (spec.kind) {
    case "absent":
      return undefined;
    case "valid":
      return spec.max
        ? (nonce + spec.filler).padEnd(MAX_KEY, "x").slice(0, MAX_KEY)
        : nonce + spec.filler;
    case "invalid":
      return spec.json;
    case "twice":
      return `${nonce}${spec.filler}`;
  }
}

/** Member order reversed at every level. */
function reordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reordered);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reordered(v)]),
    );
  }
  return value;
}

/** The content of a body, the content type it goes with, and whether it carries the key. */
function content(
  body: BodySpec,
  contentType: string | null,
  route: RouteModel,
  key: KeySpec,
  nonce: string,
  reserialize: boolean,
): { bytes: Uint8Array; contentType: string | null; keyInBody: boolean } {
  const text = (t: string) => new TextEncoder().encode(t);
  switch (body.kind) {
    case "empty":
      return { bytes: new Uint8Array(), contentType, keyInBody: false };
    case "json": {
      // A `json:` route reads the key from a JSON body: one that says so, unless the case chose.
      const type =
        route.key.kind === "json" && contentType === null ? "application/json" : contentType;
      let value = body.value;
      let keyInBody = false;
      const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
      if (route.key.kind === "json" && isObject && key.kind !== "absent") {
        const member = keyMember(key, nonce);
        value = { ...(value as object), [route.key.member]: member };
        keyInBody = isJsonType(type);
        if (key.kind === "twice") {
          // The member twice: a duplicate name, which the gateway refuses (malformed-body).
          const rest = JSON.stringify(value).slice(1);
          const first = JSON.stringify(route.key.member);
          return {
            bytes: text(`{${first}:${JSON.stringify(`${member}2`)},${rest}`),
            contentType: type,
            keyInBody,
          };
        }
      }
      const shown = reserialize ? reordered(value) : value;
      const pretty = reserialize ? !body.pretty : body.pretty;
      return {
        bytes: text(JSON.stringify(shown, null, pretty ? 2 : undefined) ?? "null"),
        contentType: type,
        keyInBody,
      };
    }
    case "json-duplicate":
    case "json-broken":
      return {
        bytes: text(body.text),
        contentType: contentType ?? "application/json",
        keyInBody: false,
      };
    case "form":
      return {
        bytes: text(body.pairs.map(([k, v]) => `${k}=${v}`).join("&")),
        contentType: contentType ?? "application/x-www-form-urlencoded",
        keyInBody: false,
      };
    case "multipart": {
      const parts = body.parts.map(
        (p) =>
          `--${body.boundary}\r\nContent-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`,
      );
      const type =
        contentType === null || contentType.startsWith("multipart/")
          ? `multipart/form-data; boundary=${body.boundary}`
          : contentType;
      return {
        bytes: text(`${parts.join("")}--${body.boundary}--\r\n`),
        contentType: type,
        keyInBody: false,
      };
    }
    case "garbage":
      return { bytes: Uint8Array.from(body.bytes), contentType, keyInBody: false };
    case "large":
      return { bytes: patternBytes(body.size), contentType, keyInBody: false };
  }
}

/**
 * Whether a field value holds a control byte other than HTAB, which RFC 9110 §5.5 does not allow
 * (workerd lets most through; the origin's HTTP server may refuse them).
 */
function hasControlByte(value: string | Uint8Array, except: readonly number[] = []): boolean {
  const bytes: Uint8Array = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  return bytes.some((b: number) => ((b < 0x20 && b !== 0x09) || b === 0x7f) && !except.includes(b));
}

/** Bytes per chunk of the `chunked-extensions` framing. */
const EXTENDED_CHUNK = 5;

/** Methods workerd's HTTP server does not take (it answers 501 or 500 itself). */
const UNRECOGNISED_METHODS = new Set(["FOO", "post", "CONNECT"]);

/**
 * Builds a case's request.
 *
 * @param nonce - unique per execution: starts every valid key
 * @param marker - unique per request: the `X-Marker` the origin records it under
 * @param port - the gateway's port (for `Host` and the absolute form)
 */
export function buildApiRequest(
  c: ApiCase,
  nonce: string,
  marker: string,
  port: number,
  variation: Variation = {},
): BuiltRequest {
  const route: RouteModel = FUZZ_ROUTES[c.route];
  const scope = variation.scope ?? c.scope;
  const framing = variation.framing ?? c.framing;
  const oddity = variation.oddity ?? c.oddity;
  const body = variation.body ?? c.body;
  const method = c.method;
  const built = content(
    body,
    variation.contentType === undefined ? c.contentType : variation.contentType,
    route,
    c.key,
    nonce,
    variation.reserialize === true,
  );

  const headers: [string, string | Uint8Array][] = [];
  if (oddity !== "broken:no-host") headers.push(["Host", `127.0.0.1:${port}`]);
  headers.push(["Connection", "close"], ["X-Marker", marker]);
  for (const field of scopeFields(scope)) headers.push(field);
  if (built.contentType !== null) headers.push(["Content-Type", built.contentType]);

  let keyAttached = false;
  if (route.key.kind === "header") {
    const field = route.key.field === "idempotency-key" ? "Idempotency-Key" : "PayPal-Request-Id";
    const text = keyText(c.key, nonce, route.key.field === "idempotency-key");
    if (text !== null) headers.push([field, text]);
    else if (c.key.kind === "invalid") headers.push([field, Uint8Array.from(c.key.header)]);
    else if (c.key.kind === "twice") {
      headers.push([field, `${nonce}${c.key.filler}a`], [field, `${nonce}${c.key.filler}b`]);
    }
    keyAttached = c.key.kind !== "absent";
  } else if (route.key.kind === "json") {
    keyAttached = built.keyInBody;
  }

  switch (oddity) {
    case "expect-continue":
      headers.push(["Expect", "100-continue"]);
      break;
    case "broken:control-byte":
      headers.push(["X-Odd", Uint8Array.from([0x61, 0x01, 0x62])]);
      break;
    case "broken:obs-fold":
      headers.push(["X-Odd", "a\r\n b"]);
      break;
    case "broken:bad-field-name":
      headers.push(["Bad Name", "x"]);
      break;
    case "broken:huge-header":
      // Past workerd's limit for a request head (about 500 KB under wrangler dev), so that it is
      // refused there: a smaller one reaches the origin, whose own limit (16 KiB) refuses it.
      headers.push(["X-Huge", "a".repeat(600_000)]);
      break;
    default:
      break;
  }

  const bytes = built.bytes;
  let wire: Uint8Array = bytes;
  let extensionsOverLimit = false;
  const sendsContent = bytes.length > 0;
  switch (framing) {
    case "length":
      if (sendsContent || !["GET", "HEAD", "OPTIONS", "DELETE"].includes(method)) {
        headers.push(["Content-Length", String(bytes.length)]);
      }
      break;
    case "chunked":
      headers.push(["Transfer-Encoding", "chunked"]);
      wire = chunked(bytes, Math.max(1, Math.ceil(bytes.length / 3)));
      break;
    case "chunked-extensions":
      headers.push(["Transfer-Encoding", "chunked"], ["Trailer", "X-Trailer"]);
      wire = chunked(bytes, EXTENDED_CHUNK, ";ext=1", "X-Trailer: t\r\n");
      // The runtime stops reading a body whose chunk extensions pass 16 KiB (without the `;`s).
      extensionsOverLimit = Math.ceil(bytes.length / EXTENDED_CHUNK) * 5 > 16 * 1024;
      break;
    case "broken:short-length":
      headers.push(["Content-Length", String(bytes.length + 5)]);
      break;
    case "broken:bad-chunk":
      headers.push(["Transfer-Encoding", "chunked"]);
      wire = Uint8Array.from([...new TextEncoder().encode("zz\r\n"), ...bytes, 0x0d, 0x0a]);
      break;
    case "broken:unframed":
      break;
    case "broken:chunked-and-length":
      headers.push(["Transfer-Encoding", "chunked"], ["Content-Length", String(bytes.length)]);
      wire = chunked(bytes, Math.max(4, Math.ceil(bytes.length / 8)));
      break;
  }

  const path = `${route.prefix}${c.tail}${c.query}`;
  let target = oddity === "absolute-form" ? `http://127.0.0.1:${port}${path}` : path;
  if (oddity === "broken:raw-byte-target") target = `${route.prefix}${c.tail}\xff${c.query}`;
  const raw: RawRequest = { method, target, headers, body: wire };
  let serialized = serialize(raw);
  if (oddity === "lf-only") {
    // RFC 9112 §2.2: a recipient may take a bare LF for the end of a line in the head.
    const head = Buffer.from(serialized).indexOf("\r\n\r\n");
    const text = Buffer.from(serialized.subarray(0, head + 4))
      .toString("latin1")
      .replaceAll("\r\n", "\n");
    serialized = Buffer.concat([
      Buffer.from(text, "latin1"),
      Buffer.from(serialized.subarray(head + 4)),
    ]);
  }

  const covered = route.key.kind !== "none" && route.methods.includes(method);
  const bodyEndsEarly =
    extensionsOverLimit || framing === "broken:short-length" || framing === "broken:bad-chunk";
  return {
    bytes: serialized,
    method,
    content: method === "GET" || method === "HEAD" ? new Uint8Array() : bytes,
    covered,
    keyed: covered && keyAttached,
    keyValid: c.key.kind === "valid",
    scopeValid: scopeIsValid(scope),
    broken:
      extensionsOverLimit ||
      framing.startsWith("broken:") ||
      oddity.startsWith("broken:") ||
      UNRECOGNISED_METHODS.has(method) ||
      headers.some(([, value]) => hasControlByte(value)),
    mayNotAnswer: bodyEndsEarly && (method === "GET" || method === "HEAD"),
    originMayRefuse: headers.some(([, value]) => hasControlByte(value, [0x00, 0x0a, 0x0d])),
    jsonContent: isJsonType(built.contentType),
  };
}
