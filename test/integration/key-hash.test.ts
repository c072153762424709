import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { keyHashOf, legacyKeyHash } from "../../src/core/key-hash";
import {
  TEST_KEY_HASH_SECRET,
  coordinatorOfKey,
  gateway,
  keyHashOfKey,
  newKey,
  post,
  problemOf,
  type Vars,
} from "./harness";

/**
 * Keyed key hashes (src/core/key-hash.ts): log lines and the admin API name a record by an
 * HMAC of its identity under `KEY_HASH_SECRET`, never by a prefix of the identity that a guessed
 * scope and key would confirm; records are still found by it, and by the hash that versions
 * before it logged.
 */

const ADMIN_TOKEN = "key-hash-admin-token-0123456789abcdefgh";
const ROTATED_SECRET = "rotated-key-hash-secret-0123456789abcdef";
/** A Worker without the secret: `""` is how an unset secret reads here. */
const NO_SECRET: Vars = { KEY_HASH_SECRET: "" };

afterEach(() => {
  vi.restoreAllMocks();
});

/** The JSON lines logged through `method` of the console since the spy was made. */
function jsonLines(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls
    .map(([line]) => (typeof line === "string" && line.startsWith("{") ? JSON.parse(line) : null))
    .filter((line): line is Record<string, unknown> => line !== null);
}

function adminPost(action: "lookup" | "purge", body: unknown, vars: Vars = {}) {
  return gateway(
    `/__idempotency/keys/${action}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    },
    { ADMIN_TOKEN, ...vars },
  );
}

describe("the key hash in log lines", () => {
  it("is keyed by KEY_HASH_SECRET, not the identity's prefix, and leads the admin API to the record", async () => {
    const log = vi.spyOn(console, "log");
    const key = newKey();
    expect((await post("/v1/charges", key)).status).toBe(201);
    const line = jsonLines(log).find((entry) => entry.event === "idempotency");
    const { identity } = await coordinatorOfKey(key);
    expect(line?.keyHash).toBe(await keyHashOf(identity, TEST_KEY_HASH_SECRET));
    expect(line?.keyHash).not.toBe(legacyKeyHash(identity));

    const found = await adminPost("lookup", { keyHash: line?.keyHash });
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({ keyHash: line?.keyHash, state: "completed" });
  });

  it("is absent without KEY_HASH_SECRET — never an unkeyed hash in its place — with a warning naming the secret, and payments go on", async () => {
    const log = vi.spyOn(console, "log");
    const warn = vi.spyOn(console, "warn");
    const key = newKey();
    const response = await post("/v1/charges", key, { vars: NO_SECRET });
    expect(response.status).toBe(201);
    const line = jsonLines(log).find((entry) => entry.event === "idempotency");
    expect(line).toMatchObject({ outcome: "forwarded", status: 201 });
    expect(line).not.toHaveProperty("keyHash");
    expect(JSON.stringify(jsonLines(log))).not.toContain(
      legacyKeyHash((await coordinatorOfKey(key)).identity),
    );
    expect(jsonLines(warn)).toContainEqual(
      expect.objectContaining({ event: "key-hash-off", variable: "KEY_HASH_SECRET" }),
    );
  });

  it("is absent with a KEY_HASH_SECRET shorter than 32 characters", async () => {
    const log = vi.spyOn(console, "log");
    expect(
      (await post("/v1/charges", newKey(), { vars: { KEY_HASH_SECRET: "short" } })).status,
    ).toBe(201);
    const line = jsonLines(log).find((entry) => entry.event === "idempotency");
    expect(line).not.toHaveProperty("keyHash");
  });
});

describe("the admin API and the key hash secret", () => {
  it("refuses to run without KEY_HASH_SECRET: 500 invalid-configuration naming it", async () => {
    const response = await adminPost("lookup", { keyHash: "0".repeat(32) }, NO_SECRET);
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("KEY_HASH_SECRET");
  });

  it("finds a record claimed before keyed hashes by the identity prefix its old log line carries", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key)).status).toBe(201);
    const { identity, stub } = await coordinatorOfKey(key);
    // As an older version claimed it: no key hash kept.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE records SET key_hash = NULL WHERE identity = ?", identity);
    });
    const found = await adminPost("lookup", { keyHash: legacyKeyHash(identity) });
    expect(found.status).toBe(200);
    expect(await found.json()).toMatchObject({ keyHash: legacyKeyHash(identity) });
    // A record with a keyed hash is NOT found by its identity's prefix.
    const keyed = newKey();
    expect((await post("/v1/charges", keyed)).status).toBe(201);
    const prefix = legacyKeyHash((await coordinatorOfKey(keyed)).identity);
    expect((await adminPost("lookup", { keyHash: prefix })).status).toBe(404);
  });

  it("after a rotation, still finds a record by the hash its claim was logged with, not by the new secret's", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key)).status).toBe(201);
    const claimed = await keyHashOfKey(key);
    const rotated = { KEY_HASH_SECRET: ROTATED_SECRET };
    const { identity } = await coordinatorOfKey(key);
    const byOld = await adminPost("lookup", { keyHash: claimed }, rotated);
    expect(byOld.status).toBe(200);
    expect(await byOld.json()).toMatchObject({ keyHash: claimed });
    const byNew = await adminPost(
      "lookup",
      { keyHash: await keyHashOf(identity, ROTATED_SECRET) },
      rotated,
    );
    expect(byNew.status).toBe(404);
  });
});

describe("other log lines", () => {
  it("name a key's own object without any part of its identity when its storage is high (IDEMPOTENCY_SHARDS=0)", async () => {
    const key = newKey();
    const { identity } = await coordinatorOfKey(key, { shards: 0 });
    const stub = env.COORDINATOR.getByName(identity);
    // Grow the key's object past the smallest storage limit the setting accepts.
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("CREATE TABLE IF NOT EXISTS ballast (data BLOB)");
      state.storage.sql.exec("INSERT INTO ballast VALUES (zeroblob(1100000))");
    });
    const warn = vi.spyOn(console, "warn");
    const vars = { IDEMPOTENCY_SHARDS: "0", IDEMPOTENCY_STORAGE_LIMIT_BYTES: "1048576" };
    expect((await post("/v1/charges", key, { vars })).status).toBe(503);
    const high = jsonLines(warn).find((line) => line.event === "storage-high");
    expect(high).toMatchObject({ object: "one key's object" });
    expect(JSON.stringify(jsonLines(warn))).not.toContain(legacyKeyHash(identity).slice(0, 8));
  });
});
