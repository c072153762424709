import type { Config } from "../config/config";
import { locateAddress, mappingsOf, objectAddress } from "../core/mapping";
import type { IdempotencyCoordinator } from "./coordinator";
import type { ExecuteCommand, FinalReply, Reply, Streamed } from "./protocol";

/**
 * Which coordinator owns a key (docs/adr/0002, docs/adr/0006). Normally one object, at the
 * address `objectAddress` gives under the current mapping: its name, its jurisdiction and its
 * location hint. While the mapping changes (`IDEMPOTENCY_SHARDS_PREVIOUS` or
 * `IDEMPOTENCY_MAPPING_PREVIOUS` set), every key is first sent to its object under the *previous*
 * mapping, which arbitrates: it keeps a key it holds, and sends any other key on to the new
 * mapping, recording that it did. Workers of the old and the new configuration therefore always
 * meet a key in the same object.
 */

type Namespace = DurableObjectNamespace<IdempotencyCoordinator>;
type Stub = DurableObjectStub<IdempotencyCoordinator>;
type MappingConfig = Pick<
  Config,
  "shards" | "previousShards" | "previousMapping" | "locationHint" | "jurisdiction"
>;

/**
 * The address a key's commands go to first and, during a migration, its new home.
 *
 * @example
 * keyRoute(identity, config); // { first: "shard-17-of-64" }, or "eu:shard-17-of-64@weur" when placed
 */
export function keyRoute(
  identity: string,
  config: MappingConfig,
): { first: string; next?: string } {
  const { current, previous } = mappingsOf(config);
  const home = objectAddress(identity, current);
  if (previous === null) return { first: home };
  return { first: objectAddress(identity, previous), next: home };
}

/**
 * The stub of the object at `address`: in its jurisdiction's namespace, created (the first time
 * its name is used) near its location hint (Cloudflare docs, "Durable Objects: Data location").
 *
 * @param namespace - the `COORDINATOR` binding, unrestricted
 * @example
 * await stubAt(env.COORDINATOR, "eu:shard-3-of-64@weur").lookup(identity);
 */
export function stubAt(namespace: Namespace, address: string): Stub {
  const { jurisdiction, name, locationHint } = locateAddress(address);
  const scoped = jurisdiction === null ? namespace : namespace.jurisdiction(jurisdiction);
  return locationHint === null ? scoped.getByName(name) : scoped.getByName(name, { locationHint });
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
  const reply = (await stubAt(namespace, first).execute(
    next === undefined ? command : { ...command, next },
  )) as Reply;
  if (reply.kind !== "moved") return reply;
  const { next: _, renamed: __, ...direct } = command;
  const target = reply.identity === undefined ? direct : { ...direct, identity: reply.identity };
  const moved = (await stubAt(namespace, reply.to).execute(target)) as Reply;
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
): Promise<Stub> {
  const { first, next } = keyRoute(identity, config);
  if (next === undefined) return stubAt(namespace, first);
  const old = stubAt(namespace, first);
  // An in-flight record counts too.
  if ((await old.lookup(identity)) !== null) return old;
  return stubAt(namespace, next);
}
