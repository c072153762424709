import { KEY_HASH_SECRET, keyHashing, type KeyHashing } from "../core/key-hash";

/**
 * The key hashing of this Worker's environment (`KEY_HASH_SECRET`), made once per isolate and
 * secret. When it is off (no secret, or a short one), the isolate says so once, as a warning
 * naming the secret: log lines then carry no key hash rather than a weaker one, and the admin API
 * refuses to run (docs/operations.md, "The key hash secret").
 */

let made: { secret: unknown; hashing: KeyHashing } | undefined;

/**
 * The key hashing for `env`'s `KEY_HASH_SECRET`, warning once when it is off.
 *
 * @example
 * const hashing = keyHashingFor(env);
 * if (hashing.kind === "keyed") line.keyHash = await hashing.hash(identity);
 */
export function keyHashingFor(env: { KEY_HASH_SECRET?: string }): KeyHashing {
  const secret = env.KEY_HASH_SECRET;
  if (made !== undefined && made.secret === secret) return made.hashing;
  const hashing = keyHashing(secret);
  made = { secret, hashing };
  if (hashing.kind === "off") {
    console.warn(
      JSON.stringify({ event: "key-hash-off", variable: KEY_HASH_SECRET, detail: hashing.detail }),
    );
  }
  return hashing;
}
