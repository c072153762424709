import type { Config } from "../config/config";
import { objectName } from "../core/object-name";
import type { IdempotencyCoordinator } from "./coordinator";
import type { ExecuteCommand, FinalReply, Reply, Streamed } from "./protocol";

/**
 * Which coordinator owns a key (docs/adr/0002, docs/adr/0006). Normally one object, named by
 * `objectName`. While the shard count changes (`IDEMPOTENCY_SHARDS_PREVIOUS` set), every key is
 * first sent to its object under the *previous* mapping, which arbitrates: it keeps a key it
 * holds, and sends any other key on to the new mapping, recording that it did. Workers of the old
 * and the new configuration therefore always meet a key in the same object.
 */

type Namespace = DurableObjectNamespace<IdempotencyCoordinator>;
type MappingConfig = Pick<Config, "shards" | "previousShards">;

/**
 * The object a key's commands go to first and, during a migration, its new home.
 *
 * @example
 * keyRoute(identity, { shards: 64, previousShards: null }); // { first: "shard-17-of-64" }
 */
export function keyRoute(
  identity: string,
  config: MappingConfig,
): { first: string; next?: string } {
  const current = objectName(identity, config.shards);
  if (config.previousShards === null) return { first: current };
  return { first: objectName(identity, config.previousShards), next: current };
}

/**
 * Runs `command` on the object that owns its key, following one redirect. A second redirect would
 * mean two migrations at once, which the mapping registry refuses; it is an error, never a forward.
 *
 * @example
 * const reply = await executeOnOwner(env.COORDINATOR, config, command);
 */
export async function executeOnOwner(
  namespace: Namespace,
  config: MappingConfig,
  command: ExecuteCommand,
): Promise<Streamed<FinalReply>> {
  const { first, next } = keyRoute(command.identity, config);
  // RPC's declared return type widens tuples ([name, value] becomes string[]); the value is the
  // coordinator's own `Reply`.
  const reply = (await namespace
    .getByName(first)
    .execute(next === undefined ? command : { ...command, next })) as Reply;
  if (reply.kind !== "moved") return reply;
  const { next: _, ...direct } = command;
  const moved = (await namespace.getByName(reply.to).execute(direct)) as Reply;
  if (moved.kind === "moved") throw new Error("a key was redirected twice");
  return moved;
}

/**
 * The object holding a key's record, for operators: during a migration the previous mapping's
 * object when it holds the record, else the current one.
 *
 * @example
 * const stub = await recordHolder(env.COORDINATOR, identity, config);
 * await stub.lookup(identity);
 */
export async function recordHolder(
  namespace: Namespace,
  identity: string,
  config: MappingConfig,
): Promise<DurableObjectStub<IdempotencyCoordinator>> {
  const { first, next } = keyRoute(identity, config);
  if (next === undefined) return namespace.getByName(first);
  const old = namespace.getByName(first);
  // An in-flight record counts too.
  if ((await old.lookup(identity)) !== null) return old;
  return namespace.getByName(next);
}
