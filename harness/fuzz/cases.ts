import fc from "fast-check";
import { API_ROUTES, type RouteName } from "./config.ts";

/**
 * What the fuzzer sends, as data: a case is one request to the API (and the follow-ups its
 * answer calls for, `run.ts`) or one admin call. Every field is drawn by fast-check from a seed,
 * so a case is replayed by its seed and index. A case never names a concrete key: a valid key is
 * a per-execution nonce plus generated filler (`requests.ts`), so cases never meet each other's
 * records, and a shrunk case replayed against the same gateway still starts from a fresh key.
 */

/** Where the key goes and what it is. Validity is by construction, not by asking the gateway. */
export type KeySpec =
  | { kind: "absent" }
  /**
   * A valid key: the nonce, then `filler` (printable ASCII; no comma in the bare form, which the
   * Fetch API would split), `max` padded to exactly 255 characters.
   */
  | { kind: "valid"; form: "bare" | "quoted"; filler: string; max: boolean }
  /** An invalid key, written into a header as these bytes, or into a JSON member as `json`. */
  | { kind: "invalid"; label: string; header: number[]; json: unknown }
  /** The key's header field twice (the Fetch API joins them: two fields, so invalid). */
  | { kind: "twice"; filler: string };

/** The scope headers a request carries. */
export type ScopeSpec =
  | { kind: "bearer"; token: string }
  | { kind: "utf8"; token: string }
  | { kind: "api-key"; token: string }
  /** `Authorization: Bearer ` and bytes that are not UTF-8. */
  | { kind: "invalid"; bytes: number[] }
  /** A valid `Authorization`, and an `X-API-Key` whose bytes are not UTF-8. */
  | { kind: "invalid-api-key"; token: string; bytes: number[] }
  | { kind: "absent" }
  | { kind: "empty" };

/** The request's content, before framing. */
export type BodySpec =
  | { kind: "empty" }
  /** A JSON document: an object gets the key member on `json:` routes. */
  | { kind: "json"; value: unknown; pretty: boolean }
  | { kind: "json-duplicate"; text: string }
  | { kind: "json-broken"; text: string }
  | { kind: "form"; pairs: [string, string][] }
  | { kind: "multipart"; boundary: string; parts: { name: string; value: string }[] }
  | { kind: "garbage"; bytes: number[] }
  /** `size` deterministic bytes: over 64 KiB (streamed answers) or over the body limit. */
  | { kind: "large"; size: number };

/**
 * How the content is framed (RFC 9112 §6). The `broken` ones are not valid HTTP/1.1: the runtime
 * may answer them itself (`invariants.ts`, RUNTIME_ANSWERS).
 */
export type Framing =
  | "length"
  | "chunked"
  | "chunked-extensions"
  | "broken:short-length"
  | "broken:bad-chunk"
  | "broken:unframed"
  | "broken:chunked-and-length";

/** A departure from well-formed HTTP/1.1 in the head of the request (`broken:`), or a quirk. */
export type Oddity =
  | "none"
  | "expect-continue"
  | "absolute-form"
  | "lf-only"
  | "broken:control-byte"
  | "broken:obs-fold"
  | "broken:bad-field-name"
  | "broken:no-host"
  | "broken:raw-byte-target"
  | "broken:huge-header";

/** One request to the fuzzed API, and what it carries. */
export interface ApiCase {
  kind: "api";
  route: RouteName;
  method: string;
  /** Path after the route's prefix (for `status`, the origin's status first). */
  tail: string;
  query: string;
  key: KeySpec;
  scope: ScopeSpec;
  body: BodySpec;
  contentType: string | null;
  framing: Framing;
  oddity: Oddity;
}

/** The answer an operator resolves an unknown record with (`POST /__idempotency/keys/resolve`). */
export interface ResolveSpec {
  status: unknown;
  headers: unknown;
  body?: string;
  bodyBase64?: string;
}

/** One call to the admin API. */
export type AdminCall =
  | { kind: "list"; query: string }
  | { kind: "target"; action: "lookup" | "purge"; body: unknown }
  | { kind: "raw"; method: string; path: string; body: number[] }
  /** A key driven to `unknown` at the hanging origin, then resolved, then retried. */
  | { kind: "resolve-flow"; scope: ScopeSpec; resolve: ResolveSpec };

/** One admin call and the token it shows. */
export interface AdminCase {
  kind: "admin";
  token: "valid" | "wrong" | "absent" | "basic";
  call: AdminCall;
}

/** A fuzz case. */
export type FuzzCase = ApiCase | AdminCase;

/** Printable ASCII, the key alphabet (docs/configuration.md, "The key"). */
const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const token = fc.stringMatching(/^[A-Za-z0-9_]{1,24}$/);
/**
 * Bytes that make a header value invalid UTF-8 (and stay valid HTTP: obs-text): a byte no UTF-8
 * sequence starts with (a continuation byte, 0xfe, 0xff), then any of the same or of lead bytes.
 */
const notUtf8 = fc
  .tuple(
    fc.constantFrom(0x80, 0xbf, 0xfe, 0xff),
    fc.array(fc.constantFrom(0x80, 0xbf, 0xc3, 0xe2, 0xf0, 0xfe, 0xff), { maxLength: 3 }),
  )
  .map(([first, rest]) => [first, ...rest]);

const key: fc.Arbitrary<KeySpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: "absent" } as const) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("valid" as const),
      form: fc.constantFrom("bare" as const, "quoted" as const),
      filler: fc.string({ unit: printable, maxLength: 40 }),
      max: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.constant(invalidKey("empty", "", "")),
      fc.constant(invalidKey("256 characters", "k".repeat(256), "k".repeat(256))),
      fc.constant(invalidKey("a control byte", "ab\x01cd", "ab\u0001cd")),
      fc.constant(invalidKey("non-ASCII UTF-8", "caf\xc3\xa9", "café")),
      fc.constant(invalidKey("bytes that are not UTF-8", "k\xff\xfe", 12)),
      fc.constant(invalidKey("two fields", "a, b", null)),
      fc.constant(invalidKey("an unterminated quote", '"abc', { k: 1 })),
      fc.constant(invalidKey("a bad escape", '"a\\x"', [])),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("twice" as const),
      filler: fc.stringMatching(/^[a-z0-9]{0,8}$/),
    }),
  },
);

function invalidKey(label: string, header: string, json: unknown): KeySpec {
  return { kind: "invalid", label, header: [...Buffer.from(header, "latin1")], json };
}

const scope: fc.Arbitrary<ScopeSpec> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("bearer" as const), token }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("utf8" as const), token }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("api-key" as const), token }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("invalid" as const), bytes: notUtf8 }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("invalid-api-key" as const),
      token,
      bytes: notUtf8,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "absent" } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: "empty" } as const) },
);

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const formText = fc.string({ unit: fc.constantFrom(..."ab=&%2+é _"), maxLength: 8 });

const body: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: "empty" } as const) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("json" as const),
      value: fc.oneof(
        {
          weight: 5,
          arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), jsonValue, { maxKeys: 5 }),
        },
        { weight: 1, arbitrary: jsonValue },
      ),
      pretty: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.stringMatching(/^[a-z]{1,4}$/), jsonValue, jsonValue)
      .map(([name, a, b]) => ({
        kind: "json-duplicate" as const,
        text: `{${JSON.stringify(name)}:${JSON.stringify(a)},${JSON.stringify(name)}:${JSON.stringify(b)}}`,
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constantFrom('{"amount":', "{'a':1}", "[1,]", '{"a":01}', '"\\x"', "NaN", "{}{}"),
        jsonValue.map((v) => JSON.stringify(v).slice(0, -1) || "{"),
      )
      .map((text) => ({ kind: "json-broken" as const, text })),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("form" as const),
      pairs: fc.array(fc.tuple(formText, formText), { maxLength: 5 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("multipart" as const),
      boundary: fc.stringMatching(/^[A-Za-z0-9'()+_,.-]{1,40}$/),
      parts: fc.array(
        fc.record({
          name: fc.stringMatching(/^[a-z_]{1,8}$/),
          value: fc.string({ maxLength: 20 }),
        }),
        { maxLength: 3 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("garbage" as const),
      bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 200 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("large" as const),
      size: fc.constantFrom(65, 70_000, 1_100_000),
    }),
  },
);

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "application/json",
      "application/json; charset=utf-8",
      "application/merchant+json",
      "application/x-www-form-urlencoded",
      "multipart/form-data",
      "text/plain",
      "application/octet-stream",
      "APPLICATION/JSON",
      "application/json;;",
      "",
    ),
  },
);

const framing: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 12, arbitrary: fc.constant("length" as const) },
  { weight: 3, arbitrary: fc.constant("chunked" as const) },
  { weight: 1, arbitrary: fc.constant("chunked-extensions" as const) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "broken:short-length" as const,
      "broken:bad-chunk" as const,
      "broken:unframed" as const,
      "broken:chunked-and-length" as const,
    ),
  },
);

const oddity: fc.Arbitrary<Oddity> = fc.oneof(
  { weight: 30, arbitrary: fc.constant("none" as const) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "expect-continue" as const,
      "absolute-form" as const,
      "lf-only" as const,
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "broken:control-byte" as const,
      "broken:obs-fold" as const,
      "broken:bad-field-name" as const,
      "broken:no-host" as const,
      "broken:raw-byte-target" as const,
      "broken:huge-header" as const,
    ),
  },
);

const method = fc.oneof(
  { weight: 12, arbitrary: fc.constant("POST") },
  { weight: 3, arbitrary: fc.constantFrom("PATCH", "PUT", "GET") },
  { weight: 2, arbitrary: fc.constantFrom("HEAD", "OPTIONS", "DELETE") },
  { weight: 1, arbitrary: fc.constantFrom("FOO", "post", "CONNECT", "QUERY") },
);

/** Statuses the origin is asked for on the `status` route: stored, released or passed on. */
const ORIGIN_STATUSES = [
  200, 201, 202, 204, 205, 206, 301, 304, 400, 404, 409, 422, 429, 500, 502, 503,
];

const segment = fc.stringMatching(/^([a-z0-9_.~-]|%[0-9A-F]{2}){0,12}$/);
const tail = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));
const query = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(segment, segment), { minLength: 1, maxLength: 3 })
      .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`),
  },
);

const apiCase: fc.Arbitrary<ApiCase> = fc
  .record({
    kind: fc.constant("api" as const),
    route: fc.constantFrom(...API_ROUTES),
    method,
    tail,
    status: fc.constantFrom(...ORIGIN_STATUSES),
    query,
    key,
    scope,
    body,
    contentType,
    framing,
    oddity,
  })
  .map(({ status, ...rest }) =>
    rest.route === "status" ? { ...rest, tail: `${status}/${rest.tail}` } : rest,
  );

const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);
const anyJson = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.constant(null),
  fc.boolean(),
);
const targetBody = fc.oneof(
  fc.record(
    {
      key: fc.oneof(fc.string({ unit: printable, maxLength: 20 }), anyJson),
      scope: fc.oneof(
        fc.dictionary(fc.string({ maxLength: 14 }), fc.string({ maxLength: 10 })),
        anyJson,
      ),
      includeResponse: fc.oneof(fc.boolean(), anyJson),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    { keyHash: fc.oneof(hex32, anyJson), includeResponse: fc.oneof(fc.boolean(), anyJson) },
    { requiredKeys: [] },
  ),
  fc.record({ keyHash: hex32, key: fc.string({ maxLength: 8 }) }),
  jsonValue,
);

const headerName = fc.constantFrom(
  "content-type",
  "x-charge-id",
  "set-cookie",
  "content-encoding",
  "location",
  "etag",
  "idempotent-replayed",
  "content-length",
  "transfer-encoding",
  "connection",
);
const headerValue = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: printable, maxLength: 16 }) },
  { weight: 1, arbitrary: fc.constantFrom("gzip", "br", "deflate", "identity", "x-charge-id") },
);
const headers = fc.dictionary(
  headerName,
  fc.oneof(headerValue, fc.array(headerValue, { maxLength: 2 })),
  {
    maxKeys: 4,
  },
);
/** What an operator may get wrong: a field name or value HTTP refuses, a list of numbers. */
const badHeaders = fc.oneof(
  fc.dictionary(fc.constantFrom("bad name", "x-a", "é"), fc.constantFrom("a\r\nb", "é", "ok"), {
    minKeys: 1,
    maxKeys: 2,
  }),
  anyJson,
  fc.array(fc.string(), { maxLength: 2 }),
);
const resolveBody = fc.oneof(
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 4, arbitrary: fc.record({ body: fc.string({ maxLength: 60 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      bodyBase64: fc
        .uint8Array({ maxLength: 60 })
        .map((bytes) => Buffer.from(bytes).toString("base64")),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({ bodyBase64: fc.constantFrom("not base64!", "YQ", "====") }),
      fc.record({ body: fc.string({ maxLength: 4 }), bodyBase64: fc.constant("YQ==") }),
    ),
  },
);
const resolveSpec: fc.Arbitrary<ResolveSpec> = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 200, max: 599 }) },
      { weight: 3, arbitrary: fc.constantFrom(200, 201, 204, 205, 206, 304, 400, 500) },
      {
        weight: 1,
        arbitrary: fc.oneof(fc.constantFrom(100, 101, 103, 199, 600, 0, -1, 2.5), anyJson),
      },
    ),
    fc.oneof({ weight: 8, arbitrary: headers }, { weight: 1, arbitrary: badHeaders }),
    resolveBody,
  )
  .map(([status, fields, body]) => ({ status, headers: fields, ...body }));

const adminCall: fc.Arbitrary<AdminCall> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("list" as const),
      query: fc.oneof(
        fc.constantFrom(
          "",
          "?state=unknown",
          "?state=completed&limit=200",
          "?limit=0",
          "?limit=201",
          "?state=nope",
          "?cursor=abc",
          "?state=unknown&state=unknown",
          "?foo=1",
        ),
        query,
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("target" as const),
      action: fc.constantFrom("lookup" as const, "purge" as const),
      body: targetBody,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("raw" as const),
      method: fc.constantFrom("GET", "POST", "DELETE", "PUT"),
      path: fc.oneof(
        fc.constantFrom(
          "/__idempotency/health",
          "/__idempotency/console",
          "/__idempotency/keys",
          "/__idempotency/keys/lookup",
          "/__idempotency/keys/resolve",
          "/__idempotency/problems/idempotency-key-reused",
          "/__idempotency/problems/no-such-code",
          "/__idempotency/",
          "/__idempotency",
        ),
        tail.map((t) => `/__idempotency/${t}`),
      ),
      body: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("resolve-flow" as const),
      scope: fc.record({ kind: fc.constant("bearer" as const), token }),
      resolve: resolveSpec,
    }),
  },
);

const adminCase: fc.Arbitrary<AdminCase> = fc.record({
  kind: fc.constant("admin" as const),
  token: fc.oneof(
    { weight: 8, arbitrary: fc.constant("valid" as const) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("wrong" as const, "absent" as const, "basic" as const),
    },
  ),
  call: adminCall,
});

/** Every case the fuzzer draws from: mostly API requests, some admin calls. */
export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 6, arbitrary: apiCase },
  { weight: 1, arbitrary: adminCase },
);
