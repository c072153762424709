import type { FloorCoordinator } from "./coordinator.ts";

/**
 * The floor's Worker: the key's shard by a cheap hash, the body read, one RPC to the shard's
 * object, the answer returned. What every request of any gateway of this design must at least do
 * (bench/README.md, "The floor of the design").
 */
interface FloorEnv {
  ORIGIN_URL: string;
  IDEMPOTENCY_SHARDS: string;
  COORDINATOR: DurableObjectNamespace<FloorCoordinator>;
}

export default {
  async fetch(request, env) {
    const key = request.headers.get("idempotency-key") ?? "";
    let hash = 0;
    for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
    const shard = (hash >>> 0) % Number(env.IDEMPOTENCY_SHARDS);
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    const answer = await env.COORDINATOR.getByName(`shard-${shard}`).execute(
      key,
      env.ORIGIN_URL + url.pathname + url.search,
      [...request.headers],
      body,
    );
    const response = new Response(answer.body, { status: answer.status, headers: answer.headers });
    if (answer.replayed) response.headers.set("idempotent-replayed", "true");
    return response;
  },
} satisfies ExportedHandler<FloorEnv>;
