/**
 * The key hash: the short name of a key identity that log lines carry (docs/operations.md,
 * "Logs"), and by which an operator who has neither the key nor the customer's credential names
 * a record (docs/operations.md, "Reconciling an unknown outcome").
 *
 * It is keyed: HMAC-SHA-256 (RFC 2104) under the deployment's `KEY_HASH_SECRET` over the
 * identity. A plain prefix of the identity would let anyone who reads the logs confirm a guess
 * offline — a guessable scope and a guessable key (an order id sent as `PayPal-Request-Id`) give
 * the identity, and its prefix is in the line. Without the secret, a log line proves nothing.
 *
 * The identity itself (`key-identity.ts`) stays an unkeyed SHA-256: it names the objects and
 * storage rows that hold records, so keying it would orphan every stored record, and a secret
 * rotation would re-home every key. It never leaves the coordinator and the Worker.
 */

/** Hex digits a key hash keeps: 128 bits, so two live keys never share one in practice. */
export const KEY_HASH_LENGTH = 32;

/** The shortest `KEY_HASH_SECRET` accepted: 32 characters, e.g. `openssl rand -hex 32` (64). */
export const MIN_KEY_HASH_SECRET_LENGTH = 32;

/** The secret's name, as `wrangler secret put` sets it. */
export const KEY_HASH_SECRET = "KEY_HASH_SECRET";

/** What is signed: a label, so the MAC can never be taken for another use of the secret. */
const LABEL = "idempotency-gateway/key-hash/v1:";

const KEY_HASH = new RegExp(`^[0-9a-f]{${KEY_HASH_LENGTH}}$`);

/** How keys are hashed: under a usable secret, or not at all (and why). */
export type KeyHashing =
  { kind: "keyed"; hash: (identity: string) => Promise<string> } | { kind: "off"; detail: string };

// Module scope: importing the key once per isolate and secret, not once per request.
const imported = new Map<string, Promise<CryptoKey>>();

function importKey(secret: string): Promise<CryptoKey> {
  let key = imported.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    // A rotation leaves one stale entry per old secret; an isolate sees very few.
    imported.set(secret, key);
  }
  return key;
}

/**
 * The key hashing of a deployment: keyed under `secret`, or off when it is absent or shorter
 * than `MIN_KEY_HASH_SECRET_LENGTH` — never a weaker, unkeyed hash in its place.
 *
 * @param secret - the `KEY_HASH_SECRET` binding, if any
 * @example
 * const hashing = keyHashing(env.KEY_HASH_SECRET);
 * if (hashing.kind === "keyed") line.keyHash = await hashing.hash(identity);
 */
export function keyHashing(secret: unknown): KeyHashing {
  if (typeof secret !== "string" || secret === "") {
    return { kind: "off", detail: "is not set: log lines carry no key hash" };
  }
  if (secret.length < MIN_KEY_HASH_SECRET_LENGTH) {
    return {
      kind: "off",
      detail: `must be at least ${MIN_KEY_HASH_SECRET_LENGTH} characters (e.g. \`openssl rand -hex 32\`): log lines carry no key hash until it is`,
    };
  }
  return { kind: "keyed", hash: (identity) => keyHashOf(identity, secret) };
}

/**
 * The key hash of an identity under `secret`: the first `KEY_HASH_LENGTH` hex digits of its
 * HMAC-SHA-256.
 *
 * @example
 * await keyHashOf("3f2a…(64 hex)", secret); // "9c41…(32 hex)"
 */
export async function keyHashOf(identity: string, secret: string): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await importKey(secret),
    new TextEncoder().encode(LABEL + identity),
  );
  let hex = "";
  for (const byte of new Uint8Array(mac, 0, KEY_HASH_LENGTH / 2)) {
    hex += byte.toString(16).padStart(2, "0");
  }
  return hex;
}

/**
 * The key hash that versions before keyed hashes logged: the identity's first
 * `KEY_HASH_LENGTH` hex digits. Records claimed by them (or without a secret) keep no key hash,
 * and are shown and found under this one, so their old log lines still lead to them.
 */
export function legacyKeyHash(identity: string): string {
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
