import { endToEndHeaders } from "../core/http-headers";

/**
 * Marks every request the gateway sends to the origin. A request that arrives carrying it has
 * come back from the gateway itself: `ORIGIN_URL` names a host that a gateway route matches
 * (platform-notes §2.1), and forwarding it again would loop.
 */
export const HOP_HEADER = "idempotency-gateway-hop";

/**
 * Builds the origin URL for a request: `ORIGIN_URL` + path + query. The incoming request is never
 * passed through as is: on a route with an upstream, its URL names the public host, which would
 * come back to this Worker (platform-notes §2.1, §3).
 *
 * @example
 * originTarget("https://origin.example.com", new URL("https://api.example.com/v1/p?x=1"));
 * // "https://origin.example.com/v1/p?x=1"
 */
export function originTarget(originUrl: string, url: URL): string {
  return originUrl + url.pathname + url.search;
}

/**
 * Passes a request the gateway does not cover (other methods, or no key where keys are
 * optional) to the origin untouched, streaming both ways; nothing is stored.
 */
export function passThrough(request: Request, originUrl: string): Promise<Response> {
  return fetch(originTarget(originUrl, new URL(request.url)), {
    method: request.method,
    headers: [...endToEndHeaders(request.headers), [HOP_HEADER, "1"]],
    body: request.body,
    redirect: "manual",
  });
}
