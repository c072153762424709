import type { CoordinatorEnv } from "../env";

/**
 * The coordinator Worker's entry (`wrangler.coordinator.toml`): the Durable Object class that owns
 * the keys, and nothing else. The objects live in this Worker, deployed rarely, because a deploy
 * restarts a Worker's objects and any origin call they had in flight then ends unknown; the
 * gateway, deployed for every change, binds them with `script_name` (docs/adr/0010).
 *
 * The Worker has no route and no workers.dev URL. Its `fetch` handler only answers what would
 * reach it anyway (a misrouted request, a local `wrangler dev` port): 404, never a coordinator.
 *
 * @example
 * // wrangler.toml, the gateway:
 * // [[durable_objects.bindings]]
 * // name = "COORDINATOR"
 * // class_name = "IdempotencyCoordinator"
 * // script_name = "idempotency-coordinator"
 */
export default {
  fetch: () => new Response("Not Found", { status: 404 }),
} satisfies ExportedHandler<CoordinatorEnv>;

export { IdempotencyCoordinator } from "./coordinator";
