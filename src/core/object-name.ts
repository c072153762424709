/**
 * Key → coordinator object: the one place that decides which Durable Object owns a key
 * (docs/adr/0002).
 *
 * @param identity - the key identity (64 hex chars of SHA-256)
 * @param shards - 0: one object per key; N: the key's shard among N objects
 * @example
 * objectName(identity, 0);  // identity itself
 * objectName(identity, 64); // "shard-17-of-64"
 */
export function objectName(identity: string, shards: number): string {
  if (shards === 0) return identity;
  // The identity is a uniform hash, so its first 32 bits spread keys evenly over the shards.
  const shard = Number.parseInt(identity.slice(0, 8), 16) % shards;
  return `shard-${shard}-of-${shards}`;
}
