import * as z from "zod/mini";
import { MAX_BODY_LIMIT } from "../config/config";
import { endToEndHeaders } from "../core/http-headers";
import { parseIdempotencyKey } from "../core/idempotency-key";
import { KEY_HASH_LENGTH, isKeyHash } from "../core/key-hash";
import type { RecordState } from "../core/record";
import { RECORD_STATES, decodeCursor, type ListCursor } from "../core/record-page";
import {
  MAX_STORED_HEADER_BYTES,
  isBodylessStatus,
  type StoredResponse,
} from "../core/stored-response";

/**
 * What an admin request asks for, validated: the record it names, the answer an operator resolves
 * it with, the listing it wants (docs/operations.md, "Operating it"). Pure: every failure is a sentence for
 * the `invalid-admin-request` problem, never a throw.
 */

/** A validated value, or why the request is invalid. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; detail: string };

/** A record named by the client's key and scope values, or by the key hash of the log line. */
export type Target =
  | { by: "key"; key: string; scope: ReadonlyMap<string, string> }
  | { by: "keyHash"; keyHash: string };

/** Body of lookup and purge. */
export interface TargetRequest {
  target: Target;
  includeResponse: boolean;
}

/** Body of resolve: the record, and the answer the operator confirmed at the origin. */
export interface ResolveRequest {
  target: Target;
  response: StoredResponse;
}

/** Query of the listing. */
export interface ListRequest {
  state: RecordState | null;
  limit: number;
  cursor: ListCursor | null;
}

/** Records per page unless `limit` says otherwise. */
export const DEFAULT_PAGE_SIZE = 50;

/** Most records per page: a page is held in memory whole, and read from every object. */
export const MAX_PAGE_SIZE = 200;

/**
 * Largest admin request body: the largest answer a resolve may carry (`IDEMPOTENCY_MAX_RESPONSE_BYTES`
 * is at most 16 MiB) in base64 is 4/3 of it, plus its headers (at most 256 KiB stored) and room for
 * JSON escapes. A larger body is refused before it is parsed.
 */
export const MAX_ADMIN_BODY_BYTES = Math.ceil((MAX_BODY_LIMIT * 4) / 3) + 2 * 1024 * 1024;

const TARGET_EXAMPLE = '{ "keyHash": "…" } or { "key": "…", "scope": { … } }';

const byKey = z.object({
  key: z.string(),
  scope: z._default(z.record(z.string(), z.string()), {}),
  includeResponse: z._default(z.boolean(), false),
});

const byKeyHash = z.object({
  keyHash: z.string(),
  includeResponse: z._default(z.boolean(), false),
});

const answer = z.object({
  status: z.int().check(z.gte(200, "must be a final status, 200 to 599"), z.lte(599)),
  headers: z._default(z.record(z.string(), z.union([z.string(), z.array(z.string())])), {}),
  body: z.optional(z.string()),
  bodyBase64: z.optional(z.string()),
});

const resolveBody = z.object({ response: answer });

/**
 * Reads the record a lookup, purge or resolve names.
 *
 * @example
 * parseTarget(JSON.parse('{"keyHash":"0123456789abcdef0123456789abcdef"}'));
 * // { ok: true, value: { target: { by: "keyHash", … }, includeResponse: false } }
 */
export function parseTarget(json: unknown): Parsed<TargetRequest> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return invalid(`The body must be a JSON object: ${TARGET_EXAMPLE}.`);
  }
  if ("keyHash" in json) {
    if ("key" in json || "scope" in json) {
      return invalid("Name the record by keyHash, or by key and scope: not both.");
    }
    const body = byKeyHash.safeParse(json);
    if (!body.success) return invalid(issueOf(body.error));
    if (!isKeyHash(body.data.keyHash)) {
      return invalid(
        `keyHash: must be ${KEY_HASH_LENGTH} lowercase hex digits, as in the log line's keyHash.`,
      );
    }
    return ok({
      target: { by: "keyHash", keyHash: body.data.keyHash },
      includeResponse: body.data.includeResponse,
    });
  }
  const body = byKey.safeParse(json);
  if (!body.success) return invalid(issueOf(body.error));
  const parsed = parseIdempotencyKey(body.data.key);
  if (parsed.kind !== "key") {
    return invalid(parsed.kind === "invalid" ? parsed.reason : "key must not be empty");
  }
  const scope = new Map(
    Object.entries(body.data.scope).map(([name, value]) => [name.toLowerCase(), value]),
  );
  return ok({
    target: { by: "key", key: parsed.key, scope },
    includeResponse: body.data.includeResponse,
  });
}

/**
 * Reads a resolve: the record, and the answer to store for it. The answer's headers lose their
 * hop-by-hop fields as an origin answer's do (RFC 9110 §7.6.1); its size is checked against the
 * record's route by the caller, who knows the record's path.
 *
 * @example
 * parseResolve({ keyHash: "…", response: { status: 201, headers: {}, body: "{}" } });
 */
export function parseResolve(json: unknown): Parsed<ResolveRequest> {
  const named = parseTarget(json);
  if (!named.ok) return named;
  const body = resolveBody.safeParse(json);
  if (!body.success) return invalid(issueOf(body.error));
  const { status, headers: fields, body: text, bodyBase64 } = body.data.response;
  if (text !== undefined && bodyBase64 !== undefined) {
    return invalid("response: give body or bodyBase64, not both.");
  }
  const headers = new Headers();
  for (const [name, values] of Object.entries(fields)) {
    for (const value of typeof values === "string" ? [values] : values) {
      try {
        headers.append(name, value);
      } catch {
        return invalid(`response.headers.${name}: not a valid header field name and value.`);
      }
    }
  }
  const kept = endToEndHeaders(headers);
  if (JSON.stringify(kept).length > MAX_STORED_HEADER_BYTES) {
    return invalid(`response.headers: over the ${MAX_STORED_HEADER_BYTES} bytes kept for replay.`);
  }
  let bytes: Uint8Array;
  if (bodyBase64 !== undefined) {
    const decoded = fromBase64(bodyBase64);
    if (decoded === null) return invalid("response.bodyBase64: not valid base64.");
    bytes = decoded;
  } else {
    bytes = new TextEncoder().encode(text ?? "");
  }
  // The replay's rule (`toResponse`): such an answer has no content, so these bytes would never
  // reach the client. Refused rather than dropped, so the operator sees the mistake.
  if (isBodylessStatus(status) && bytes.byteLength > 0) {
    return invalid(
      `response: a ${status} answer carries no content (RFC 9110 §6.4.1, §15.3.6); give an empty body or another status.`,
    );
  }
  return ok({ target: named.value.target, response: { status, headers: kept, body: bytes } });
}

/**
 * Reads the listing's query: `state` (one of the record states; absent: all), `limit` (1 to
 * `MAX_PAGE_SIZE`), `cursor` (from the previous page). Any other parameter is refused, so that a
 * misspelt filter never lists everything.
 *
 * @example
 * parseListQuery(new URLSearchParams("state=unknown&limit=20"));
 */
export function parseListQuery(params: URLSearchParams): Parsed<ListRequest> {
  for (const name of new Set(params.keys())) {
    if (!["state", "limit", "cursor"].includes(name)) {
      return invalid(`${name}: unknown parameter (state, limit and cursor are).`);
    }
    if (params.getAll(name).length > 1) return invalid(`${name}: given more than once.`);
  }
  const state = params.get("state");
  if (state !== null && !RECORD_STATES.includes(state as RecordState)) {
    return invalid(`state: must be one of ${RECORD_STATES.join(", ")} (or absent for all).`);
  }
  const limitText = params.get("limit");
  const limit = limitText === null ? DEFAULT_PAGE_SIZE : Number(limitText);
  if (limitText !== null && !/^\d{1,4}$/.test(limitText)) {
    return invalid(`limit: must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  }
  if (limit < 1 || limit > MAX_PAGE_SIZE) {
    return invalid(`limit: must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  }
  const cursorText = params.get("cursor");
  const cursor = cursorText === null ? null : decodeCursor(cursorText);
  if (cursorText !== null && cursor === null) {
    return invalid("cursor: not a cursor this endpoint returned.");
  }
  return ok({ state: state as RecordState | null, limit, cursor });
}

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function invalid<T>(detail: string): Parsed<T> {
  return { ok: false, detail };
}

function issueOf(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join(".") || "body"}: ${issue?.message ?? "is invalid"}`;
}

/** Strict base64 (RFC 4648 §4, padded): `null` for anything else. */
function fromBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}
