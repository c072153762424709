import { createApp } from "./http/app";
import type { GatewayEnv } from "./env";

/**
 * The gateway Worker's entry: the app. The coordinator class its `COORDINATOR` binding names is
 * exported by the coordinator Worker (`src/coordinator/worker.ts`), not here: the objects live in
 * a Worker deployed rarely, so a deploy of this one never restarts them (docs/adr/0010).
 */
const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
} satisfies ExportedHandler<GatewayEnv>;
