/**
 * The key hash: the short form of a key identity that log lines carry (README, "Operating it"),
 * and by which an operator who has neither the key nor the customer's credential names a record
 * (README, "Reconciling an unknown outcome").
 */

/** Hex digits of the identity a key hash keeps: 128 bits, so two live keys never share one in practice. */
export const KEY_HASH_LENGTH = 32;

const KEY_HASH = new RegExp(`^[0-9a-f]{${KEY_HASH_LENGTH}}$`);

/**
 * The key hash of a key identity: its first `KEY_HASH_LENGTH` hex digits.
 *
 * @example
 * keyHashOf("3f2a…(64 hex)"); // "3f2a…(32 hex)"
 */
export function keyHashOf(identity: string): string {
  return identity.slice(0, KEY_HASH_LENGTH);
}

/**
 * Whether `text` is a key hash as logged: exactly `KEY_HASH_LENGTH` lowercase hex digits.
 *
 * @example
 * isKeyHash("0123456789abcdef0123456789abcdef"); // true
 * isKeyHash("0123456789ABCDEF0123456789ABCDEF"); // false: logs are lowercase
 */
export function isKeyHash(text: string): boolean {
  return KEY_HASH.test(text);
}
