import { env } from "cloudflare:workers";
import { originHeaders, originTarget } from "../core/origin-request";
import { originBinding } from "../env";

/**
 * Passes a request the gateway does not cover (other methods, or no key where keys are
 * optional) to the origin untouched, streaming both ways; nothing is stored.
 *
 * @param binding - the `ORIGIN` service binding, by default the deployment's own (the module-level
 *   `env` holds the same bindings as every handler's)
 */
export function passThrough(
  request: Request,
  originUrl: string,
  hop: string,
  binding: Fetcher | undefined = originBinding(env),
): Promise<Response> {
  const target = originTarget(originUrl, new URL(request.url));
  const init: RequestInit = {
    method: request.method,
    headers: originHeaders(request.headers, hop),
    body: request.body,
    redirect: "manual",
  };
  return binding === undefined ? fetch(target, init) : binding.fetch(target, init);
}
