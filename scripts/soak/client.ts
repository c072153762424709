import { createHash } from "node:crypto";
import type { KeySpec } from "./plan.ts";

/** The soak's HTTP client: one POST per call, every answer reduced to what the checks compare. */

/** One answer a client got (or the error it got instead). */
export interface Answer {
  key: number;
  /** performance.now() when the request was started and when its answer was complete. */
  startedAt: number;
  endedAt: number;
  /** 0 when the client got no HTTP answer. */
  status: number;
  /** `Idempotent-Replayed: true`. */
  replayed: boolean;
  /** `code` of an application/problem+json body (RFC 9457), else undefined. */
  code?: string;
  /** sha256 of the body bytes (hex), and its start, for violation reports. */
  bodyHash: string;
  bodyHead: string;
  /** The origin's `x-charge` header, when present. */
  charge?: string;
  /** A network error at the client (reset, timeout…). */
  error?: string;
}

/** The `code` of a problem+json body, if it has one. */
function problemCode(contentType: string | null, bytes: Buffer): string | undefined {
  if (!contentType?.startsWith("application/problem+json")) return undefined;
  try {
    const { code } = JSON.parse(bytes.toString("utf8")) as { code?: unknown };
    return typeof code === "string" ? code : undefined;
  } catch {
    return "(unparseable problem body)";
  }
}

/**
 * Sends `spec`'s request to the gateway at `baseUrl` and resolves with its answer, never
 * rejects: a request without an answer in `timeoutMs`, or aborted by `stop`, is an error answer.
 */
export async function send(
  baseUrl: string,
  spec: KeySpec,
  timeoutMs: number,
  stop: AbortSignal,
): Promise<Answer> {
  const startedAt = performance.now();
  const base = { key: spec.index, startedAt, replayed: false, bodyHash: "", bodyHead: "" };
  try {
    const response = await fetch(baseUrl + spec.path, {
      method: "POST",
      headers: {
        authorization: spec.authorization,
        "content-type": "application/json",
        "idempotency-key": spec.key,
      },
      body: spec.body,
      signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const code = problemCode(response.headers.get("content-type"), bytes);
    const charge = response.headers.get("x-charge");
    return {
      ...base,
      endedAt: performance.now(),
      status: response.status,
      replayed: response.headers.get("idempotent-replayed") === "true",
      bodyHash: createHash("sha256").update(bytes).digest("hex"),
      bodyHead: bytes.subarray(0, 160).toString("utf8"),
      ...(code !== undefined ? { code } : {}),
      ...(charge !== null ? { charge } : {}),
    };
  } catch (error) {
    // fetch says "fetch failed" and puts the reason (a reset, a refused connection) in `cause`.
    const reason = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const message = reason instanceof Error ? reason.message : String(reason);
    return { ...base, endedAt: performance.now(), status: 0, error: message };
  }
}
