import { REPLAYED_HEADER } from "../core/header-names";

/**
 * CORS and the gateway (docs/adr/0012). The origin owns its CORS policy; the gateway only keeps a
 * stored answer from carrying that policy to a page it was not given to:
 *
 * - A preflight is the browser asking the origin's permission, not a write: it passes through
 *   untouched, whatever `IDEMPOTENCY_METHODS` and `IDEMPOTENCY_KEY_REQUIRED` say. It never
 *   carries the key: browsers send no author headers on one (Fetch Standard, "CORS-preflight
 *   fetch").
 * - A replayed answer (a stored one, or a duplicate's share of the first) keeps its CORS headers
 *   only for the page they were made for: an `Access-Control-Allow-Origin` of `*`, or the very
 *   origin the request comes from. Made for another page, they are all left out, so the browser
 *   withholds the answer from this page, as the origin did not say it may read it.
 * - Where the answer stays readable, `Idempotent-Replayed` is added to
 *   `Access-Control-Expose-Headers`, so the page can tell a replay: only safelisted headers are
 *   readable otherwise (Fetch Standard §3.2.3, "HTTP responses").
 */

/** The response headers of the CORS protocol (Fetch Standard §3.2.3, "HTTP responses"). */
const CORS_RESPONSE_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-expose-headers",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-max-age",
] as const;

/**
 * Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
 * `Access-Control-Request-Method` (Fetch Standard §3.2.2, "HTTP requests").
 *
 * @example
 * const headers = { origin: "https://shop.example", "access-control-request-method": "POST" };
 * isPreflight(new Request(url, { method: "OPTIONS", headers })); // true
 */
export function isPreflight(request: Request): boolean {
  return (
    request.method === "OPTIONS" &&
    request.headers.has("origin") &&
    request.headers.has("access-control-request-method")
  );
}

/**
 * Fits a replayed answer's CORS headers to the request it answers, in place. A request without
 * `Origin` is no CORS request, and its replay stays as stored.
 *
 * @param headers - the replayed answer's headers (mutable)
 * @param requestOrigin - the request's `Origin` header, or `null`
 * @example
 * replayCors(response.headers, request.headers.get("origin"));
 */
export function replayCors(headers: Headers, requestOrigin: string | null): void {
  if (requestOrigin === null) return;
  const allowed = headers.get("access-control-allow-origin");
  if (allowed === null) return;
  // Origins are compared as serialised, case included (Fetch Standard, "CORS check").
  if (allowed !== "*" && allowed !== requestOrigin) {
    for (const name of CORS_RESPONSE_HEADERS) headers.delete(name);
    return;
  }
  const exposed = headers.get("access-control-expose-headers");
  const names = (exposed ?? "").split(",").map((name) => name.trim().toLowerCase());
  if (names.includes(REPLAYED_HEADER.toLowerCase())) return;
  headers.set(
    "access-control-expose-headers",
    exposed === null || exposed.trim() === "" ? REPLAYED_HEADER : `${exposed}, ${REPLAYED_HEADER}`,
  );
}
