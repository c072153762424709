import type { IdempotencyCoordinator } from "../coordinator/coordinator";

/**
 * The value of the hop marker (`Idempotency-Gateway-Hop`) this deployment puts on every request
 * it sends to the origin. A request that arrives carrying *this* value has come back from the
 * gateway itself (a route loop); any other value is a client's header and means nothing.
 *
 * The value is the id the Durable Object namespace derives for a fixed name: the same in every
 * isolate of the deployment and of every version (ids depend only on the namespace and the
 * name), and not something a client can guess. A client that sends the header can therefore not
 * raise the gateway's misconfiguration alarm.
 */
const cache = new WeakMap<object, string>();

/**
 * @param namespace - the `COORDINATOR` binding
 * @example
 * if (request.headers.get(HOP_HEADER) === hopMarker(env.COORDINATOR)) return loop();
 */
export function hopMarker(namespace: DurableObjectNamespace<IdempotencyCoordinator>): string {
  let marker = cache.get(namespace);
  if (marker === undefined) {
    marker = namespace.idFromName("idempotency-gateway-hop").toString();
    cache.set(namespace, marker);
  }
  return marker;
}
