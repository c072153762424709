/**
 * With one coordinator object per key (`IDEMPOTENCY_SHARDS=0`), each new key is a new object
 * with no verdict of its own: asking the registry from each would put the registry's load back
 * in proportion to new keys. Such objects ask one of `RELAY_COUNT` relay objects instead, chosen
 * by the key, which keep verdicts like a shard does (ADR 0009).
 */

/** How many relays share the verdicts for objects of one key each. */
export const RELAY_COUNT = 64;

/**
 * Whether an object's name is a key identity (one object per key), not a shard's or a relay's.
 *
 * @example
 * isKeyObjectName("shard-3-of-64"); // false
 */
export function isKeyObjectName(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}

/**
 * The relay a key object asks: by the key's identity, so that relays share the load evenly.
 *
 * @example
 * relayName("00000011…"); // "mapping-relay-17"
 */
export function relayName(identity: string): string {
  return `mapping-relay-${Number.parseInt(identity.slice(0, 8), 16) % RELAY_COUNT}`;
}
