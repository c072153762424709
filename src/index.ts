import { createApp } from "./http/app";
import type { GatewayEnv } from "./env";

/**
 * The Worker entry: the app, and the coordinator class the `COORDINATOR` binding names.
 */
const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<GatewayEnv>;

export { IdempotencyCoordinator } from "./coordinator/coordinator";
