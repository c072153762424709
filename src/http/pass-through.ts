import { originHeaders, originTarget } from "../core/origin-request";

/**
 * Passes a request the gateway does not cover (other methods, or no key where keys are
 * optional) to the origin untouched, streaming both ways; nothing is stored.
 */
export function passThrough(request: Request, originUrl: string, hop: string): Promise<Response> {
  return fetch(originTarget(originUrl, new URL(request.url)), {
    method: request.method,
    headers: originHeaders(request.headers, hop),
    body: request.body,
    redirect: "manual",
  });
}
