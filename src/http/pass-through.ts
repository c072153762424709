import { env } from "cloudflare:workers";
import { readBounded } from "../core/bounded-body";
import { originHeaders, originTarget } from "../core/origin-request";
import { problemResponse } from "../core/problems";
import { originBinding } from "../env";

/**
 * Passes a request the gateway does not cover (other methods, or no key where keys are
 * optional) to the origin untouched, streaming both ways; nothing is stored.
 *
 * A `GET` or `HEAD` that carries a body is the one exception: it is forwarded without it. The
 * Fetch API cannot send one (its `Request` throws), and the body has no meaning to lose: "content
 * received in a GET request has no generally defined semantics, cannot alter the meaning or
 * target of the request" (RFC 9110 §9.3.1; §9.3.2 for HEAD). The body is read and dropped
 * meanwhile, as a refused upload's is (`readBounded`'s `drain`), so the connection stays usable.
 *
 * An origin that fails to answer (refused, reset, or closed before its answer) is the origin's
 * failure, not the gateway's: `502 origin-unreachable`, saying that nothing is known of what
 * reached it, never `500 internal-error`.
 *
 * @param binding - the `ORIGIN` service binding, by default the deployment's own (the module-level
 *   `env` holds the same bindings as every handler's)
 */
export async function passThrough(
  request: Request,
  originUrl: string,
  hop: string,
  binding: Fetcher | undefined = originBinding(env),
): Promise<Response> {
  const target = originTarget(originUrl, new URL(request.url));
  const bodyless = request.method === "GET" || request.method === "HEAD";
  const init: RequestInit = {
    method: request.method,
    headers: originHeaders(request.headers, hop),
    body: bodyless ? null : request.body,
    redirect: "manual",
  };
  const sent = (binding === undefined ? fetch(target, init) : binding.fetch(target, init)).catch(
    (error: unknown) => unanswered(request.method, error),
  );
  if (!bodyless || request.body === null) return sent;
  const [response] = await Promise.all([sent, dropBody(request)]);
  return response;
}

/** The answer to a pass-through the origin did not answer; the failure is logged. */
function unanswered(method: string, error: unknown): Response {
  console.error(JSON.stringify({ event: "pass-through-failed", method, error: String(error) }));
  return problemResponse({
    code: "origin-unreachable",
    detail: "The origin could not be reached, or closed the connection before it answered.",
    passedThrough: true,
  });
}

/** Reads a body that is not forwarded to its end (up to the drain bound) and drops it. */
async function dropBody(request: Request): Promise<void> {
  try {
    await readBounded(request.body, request.headers.get("content-length"), 0, { drain: true });
  } catch {
    // The client broke off its body: nothing of it was to be sent anyway.
  }
}
