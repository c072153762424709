import { describe, expect, it } from "vitest";
import {
  KEY_HASH_LENGTH,
  MIN_KEY_HASH_SECRET_LENGTH,
  isKeyHash,
  keyHashOf,
  keyHashing,
  legacyKeyHash,
} from "../../../src/core/key-hash";
import { keyIdentity } from "../../../src/core/key-identity";

const SECRET = "unit-key-hash-secret-0123456789abcdef012";
const OTHER_SECRET = "unit-key-hash-secret-rotated-0123456789ab";

/** The identity of a guessable key (an order id) under a guessable scope. */
function guessableIdentity(): Promise<string> {
  return keyIdentity(["authorization"], () => "Bearer sk_live_known", "order-1001");
}

/** HMAC-SHA-256 of `text` under `secret`, in hex: computed here independently of the module. */
async function hmacHex(secret: string, text: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
  return [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("the key hash", () => {
  it("is the first 32 hex digits of HMAC-SHA-256 under KEY_HASH_SECRET over a labelled identity", async () => {
    const identity = await guessableIdentity();
    const expected = await hmacHex(SECRET, `idempotency-gateway/key-hash/v1:${identity}`);
    expect(await keyHashOf(identity, SECRET)).toBe(expected.slice(0, KEY_HASH_LENGTH));
  });

  it("does NOT reveal the identity: a reader of the logs who guesses scope and key cannot confirm the guess without the secret", async () => {
    const identity = await guessableIdentity();
    const keyHash = await keyHashOf(identity, SECRET);
    expect(isKeyHash(keyHash)).toBe(true);
    // What the guess gives, unkeyed: not what the log line says.
    expect(keyHash).not.toBe(legacyKeyHash(identity));
    expect(identity.includes(keyHash)).toBe(false);
    // Another secret, another hash: the hash is of no use without this deployment's secret.
    expect(await keyHashOf(identity, OTHER_SECRET)).not.toBe(keyHash);
  });

  it("is the same for the same identity and secret, and differs between identities", async () => {
    const identity = await guessableIdentity();
    const other = await keyIdentity(["authorization"], () => "Bearer sk_live_known", "order-1002");
    expect(await keyHashOf(identity, SECRET)).toBe(await keyHashOf(identity, SECRET));
    expect(await keyHashOf(other, SECRET)).not.toBe(await keyHashOf(identity, SECRET));
  });

  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["shorter than 32 characters", "x".repeat(MIN_KEY_HASH_SECRET_LENGTH - 1)],
    ["not a string", 42],
  ])("is off when the secret is %s, never an unkeyed hash in its place", (_, secret) => {
    const hashing = keyHashing(secret);
    expect(hashing.kind).toBe("off");
    expect(hashing.kind === "off" ? hashing.detail : "").toMatch(/no key hash/);
  });

  it("is keyed with a secret of 32 characters or more", async () => {
    const secret = "y".repeat(MIN_KEY_HASH_SECRET_LENGTH);
    const hashing = keyHashing(secret);
    expect(hashing.kind).toBe("keyed");
    const identity = await guessableIdentity();
    if (hashing.kind === "keyed") {
      expect(await hashing.hash(identity)).toBe(await keyHashOf(identity, secret));
    }
  });
});
