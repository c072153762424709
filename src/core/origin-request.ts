import { HOP_HEADER } from "./header-names";
import { endToEndHeaders } from "./http-headers";

/**
 * What the gateway sends to the origin, for covered requests (sent once by the coordinator) and
 * uncovered ones (streamed by the Worker) alike.
 */

/** A covered request, buffered, as the coordinator sends it. */
export interface OriginRequest {
  url: string;
  method: string;
  headers: [string, string][];
  body: Uint8Array | null;
}

/**
 * The origin URL of a request: `ORIGIN_URL` + path + query. The incoming request's URL is never
 * reused as is: on a route it names the public host, which would come back to this Worker.
 * Without `ORIGIN_URL` (`""`, only beside an `ORIGIN` service binding, which routes by binding,
 * not by host) the origin Worker gets the URL as the client sent it.
 *
 * @example
 * originTarget("https://origin.example.com", new URL("https://api.example.com/v1/p?x=1"));
 * // "https://origin.example.com/v1/p?x=1"
 */
export function originTarget(originUrl: string, url: URL): string {
  return (originUrl === "" ? url.origin : originUrl) + url.pathname + url.search;
}

const HOP = HOP_HEADER.toLowerCase();

/**
 * The header list sent to the origin: the request's end-to-end fields, this deployment's hop
 * marker (replacing any a client sent), and — for a covered request — the key in its bare form
 * (the one Stripe-style APIs parse) instead of the field as sent.
 *
 * @param hop - the deployment's hop marker value (`http/hop.ts`)
 * @param key - the unquoted key of a covered request; omitted: the fields are sent as they came
 */
export function originHeaders(headers: Headers, hop: string, key?: string): [string, string][] {
  const out = endToEndHeaders(headers).filter(
    ([name]) => name !== HOP && (key === undefined || name !== "idempotency-key"),
  );
  if (key !== undefined) out.push(["idempotency-key", key]);
  out.push([HOP, hop]);
  return out;
}
