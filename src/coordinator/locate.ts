import type { Config } from "../config/config";
import type { IdempotencyCoordinator } from "./coordinator";
import { objectName } from "../core/object-name";

/**
 * The coordinator that owns a key. Normally one name (`objectName`). While the shard count is
 * being changed (`IDEMPOTENCY_SHARDS_PREVIOUS` set, docs/adr/0006), a key that still has a live
 * record under the previous mapping stays there, so a retry of a key stored before the change
 * is replayed — never forwarded a second time. New keys go to the new mapping.
 *
 * @example
 * const stub = await locateCoordinator(env.COORDINATOR, identity, config);
 * await stub.execute(command);
 */
export async function locateCoordinator(
  namespace: DurableObjectNamespace<IdempotencyCoordinator>,
  identity: string,
  config: Pick<Config, "shards" | "previousShards">,
): Promise<DurableObjectStub<IdempotencyCoordinator>> {
  const current = objectName(identity, config.shards);
  if (config.previousShards !== null) {
    const previous = objectName(identity, config.previousShards);
    if (previous !== current) {
      const old = namespace.getByName(previous);
      // An in-flight record counts too: its duplicates must meet it where it runs.
      if ((await old.lookup(identity)) !== null) return old;
    }
  }
  return namespace.getByName(current);
}
