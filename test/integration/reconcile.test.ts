import { abortAllDurableObjects, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { NO_PLACEMENT } from "../../src/core/mapping";
import { objectName } from "../../src/core/object-name";
import { CHUNK_BYTES } from "../../src/core/stored-response";
import { readPage, recordObjects } from "../../src/coordinator/record-finder";
import { PAGE_OF_STATE } from "../../src/coordinator/record-queries";
import { CONSOLE_SCRIPT, CONSOLE_STYLE } from "../../src/http/console-page";
import {
  coordinatorOfKey,
  gateway,
  keyHashOfKey,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
  type Vars,
} from "./harness";

/**
 * Reconciling records without the customer's key or credential (docs/operations.md, "Reconciling an unknown
 * outcome"): the listing, lookup and purge by key hash, resolve, and the console page.
 *
 * Storage is shared by the tests of this file, so each test that lists records uses a shard
 * count no other test uses, and so sees only its own records.
 */

const ADMIN_TOKEN = "reconcile-admin-token-for-tests-0123456789";
const ADMIN = { ADMIN_TOKEN };
/** A 50 ms origin timeout: `/hang` then ends `unknown` at once. */
const FAST_TIMEOUT = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "50" };
const RESOLVED_BODY = '{"id":"ch_reconciled","status":"succeeded"}';

type Json = Record<string, unknown>;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function adminPost(
  action: "lookup" | "purge" | "resolve",
  body: unknown,
  { token = ADMIN_TOKEN, vars = {} as Vars } = {},
) {
  return gateway(
    `/__idempotency/keys/${action}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    },
    { ...ADMIN, ...vars },
  );
}

function list(query: string, { token = ADMIN_TOKEN, vars = {} as Vars } = {}) {
  return gateway(
    `/__idempotency/keys${query}`,
    { headers: { authorization: `Bearer ${token}` } },
    { ...ADMIN, ...vars },
  );
}

/** Every record of a listing, following its cursor to the end. */
async function listAll(query: string, vars: Vars): Promise<{ pages: Json[][]; records: Json[] }> {
  const pages: Json[][] = [];
  let cursor: string | null = null;
  do {
    const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await list(`${query}${suffix}`, { vars });
    expect(response.status).toBe(200);
    const page = (await response.json()) as { records: Json[]; cursor: string | null };
    pages.push(page.records);
    cursor = page.cursor;
  } while (cursor !== null);
  return { pages, records: pages.flat() };
}

/** The key hash the Worker logs for `key`, keyed by the test `KEY_HASH_SECRET`. */
const keyHashOf = (key: string): Promise<string> => keyHashOfKey(key);

/** A key whose outcome is unknown: its request hung at the origin past the timeout. */
async function unknownKey(vars: Vars = {}, path = "/hang") {
  const key = newKey();
  const response = await post(path, key, { vars: { ...FAST_TIMEOUT, ...vars } });
  expect(response.status).toBe(504);
  return { key, keyHash: await keyHashOf(key) };
}

function resolution(keyHash: string, response: Json = {}) {
  return {
    keyHash,
    response: {
      status: 201,
      headers: { "content-type": "application/json" },
      body: RESOLVED_BODY,
      ...response,
    },
  };
}

describe("the listing (GET /__idempotency/keys)", () => {
  it("does not exist (404) without ADMIN_TOKEN, and answers 401 to a wrong token", async () => {
    const absent = await gateway("/__idempotency/keys?state=unknown");
    expect(absent.status).toBe(404);
    expect((await problemOf(absent)).code).toBe("not-found");
    const wrong = await list("?state=unknown", { token: "wrong" });
    expect(wrong.status).toBe(401);
    expect((await problemOf(wrong)).code).toBe("admin-unauthorized");
  });

  it.each([
    ["an unknown state", "?state=lost"],
    ["an empty state", "?state="],
    ["a limit of 0", "?limit=0"],
    ["a limit above 200", "?limit=201"],
    ["a limit that is not a number", "?limit=ten"],
    ["a cursor it never gave", "?cursor=bm90LWEtY3Vyc29y"],
    ["a misspelt parameter", "?stat=unknown"],
    ["a repeated parameter", "?state=unknown&state=completed"],
  ])("answers 400 invalid-admin-request to %s", async (_, query) => {
    const response = await list(query);
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("invalid-admin-request");
  });

  it("lists an unknown record with its method, path, times and detail — never a query, body, header or credential", async () => {
    const vars = { IDEMPOTENCY_SHARDS: "11" };
    const key = newKey();
    const response = await post("/hang?card=4242424242424242", key, {
      vars: { ...FAST_TIMEOUT, ...vars },
      body: '{"cvc":"737"}',
    });
    expect(response.status).toBe(504);
    const listed = await list("?state=unknown", { vars });
    const text = await listed.text();
    const page = JSON.parse(text) as { records: Json[]; cursor: string | null };
    expect(page.cursor).toBeNull();
    expect(page.records).toHaveLength(1);
    const record = page.records[0] as Json;
    expect(Object.keys(record).sort()).toEqual(
      ["keyHash", "state", "method", "path", "createdAt", "expiresAt", "status", "detail"].sort(),
    );
    expect(record).toMatchObject({
      keyHash: await keyHashOf(key),
      state: "unknown",
      method: "POST",
      path: "/hang",
      status: null,
    });
    expect(String(record.detail)).toContain("50 ms");
    expect(Date.parse(String(record.expiresAt)) - Date.parse(String(record.createdAt))).toBe(
      86_400_000,
    );
    for (const secret of [key, "4242424242424242", "737", "sk_test_a"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("pages newest first across several objects, each record exactly once, with an opaque cursor", async () => {
    const vars = { IDEMPOTENCY_SHARDS: "7" };
    const keys = Array.from({ length: 12 }, () => newKey());
    for (const key of keys) expect((await post("/v1/charges", key, { vars })).status).toBe(201);
    const hashes = await Promise.all(keys.map(keyHashOf));
    // Twelve random keys over seven shards: spread over several objects.
    expect(new Set(hashes.map((hash) => objectName(hash, 7))).size).toBeGreaterThan(1);

    const { pages, records } = await listAll("?state=completed&limit=5", vars);
    expect(pages.map((page) => page.length)).toEqual([5, 5, 2]);
    expect(records.map((record) => record.keyHash).sort()).toEqual([...hashes].sort());
    const created = records.map((record) => Date.parse(String(record.createdAt)));
    expect(created).toEqual([...created].sort((a, b) => b - a));
  });

  it("filters by state, and lists every state when none is given", async () => {
    const vars = { IDEMPOTENCY_SHARDS: "9" };
    const completed = newKey();
    await post("/v1/charges", completed, { vars });
    const { keyHash: unknown } = await unknownKey(vars);
    const states = async (query: string) =>
      Object.fromEntries(
        (await listAll(query, vars)).records.map((record) => [record.keyHash, record.state]),
      );
    expect(await states("?state=unknown")).toEqual({ [unknown]: "unknown" });
    expect(await states("?state=completed")).toEqual({
      [await keyHashOf(completed)]: "completed",
    });
    expect(await states("?state=in_flight")).toEqual({});
    expect(await states("?limit=1")).toEqual({
      [unknown]: "unknown",
      [await keyHashOf(completed)]: "completed",
    });
  });

  it("reads the previous mapping's objects too while the shard count changes", async () => {
    const before = { IDEMPOTENCY_SHARDS: "3" };
    const during = { IDEMPOTENCY_SHARDS: "6", IDEMPOTENCY_SHARDS_PREVIOUS: "3" };
    const old = newKey();
    const fresh = newKey();
    await post("/v1/charges", old, { vars: before });
    await post("/v1/charges", fresh, { vars: during });
    const { records } = await listAll("?state=completed", during);
    expect(records.map((record) => record.keyHash).sort()).toEqual(
      [await keyHashOf(old), await keyHashOf(fresh)].sort(),
    );
  });

  it("pages group by group when the objects outnumber one page's share, still each record once", async () => {
    const vars = { IDEMPOTENCY_SHARDS: "5" };
    const keys = Array.from({ length: 10 }, () => newKey());
    for (const key of keys) await post("/v1/charges", key, { vars });
    const objects = recordObjects({
      shards: 5,
      previousShards: null,
      previousMapping: null,
      ...NO_PLACEMENT,
    });
    expect(objects?.addresses).toHaveLength(5);
    const seen: string[] = [];
    let cursor = null;
    let pages = 0;
    do {
      const page = await readPage(
        env.COORDINATOR,
        objects as NonNullable<typeof objects>,
        { state: "completed", limit: 3, cursor },
        { objectsPerPage: 2 },
      );
      expect(page.records.length).toBeLessThanOrEqual(3);
      seen.push(...page.records.map((record) => record.keyHash ?? ""));
      cursor = page.cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.sort()).toEqual((await Promise.all(keys.map(keyHashOf))).sort());
  });

  it("refuses a cursor that continues another listing", async () => {
    const vars = { IDEMPOTENCY_SHARDS: "12" };
    for (const key of [newKey(), newKey()]) await post("/v1/charges", key, { vars });
    const first = (await (await list("?state=completed&limit=1", { vars })).json()) as {
      cursor: string;
    };
    expect(first.cursor).not.toBeNull();
    const other = await list(`?state=unknown&cursor=${first.cursor}`, { vars });
    expect(other.status).toBe(400);
    const remapped = await list(`?state=completed&cursor=${first.cursor}`, {
      vars: { IDEMPOTENCY_SHARDS: "14" },
    });
    expect(remapped.status).toBe(400);
  });

  it.each([
    ["IDEMPOTENCY_SHARDS=0", { IDEMPOTENCY_SHARDS: "0" }],
    [
      "IDEMPOTENCY_SHARDS_PREVIOUS=0",
      { IDEMPOTENCY_SHARDS: "8", IDEMPOTENCY_SHARDS_PREVIOUS: "0" },
    ],
  ])(
    "answers 501 sharding-required with %s: objects named by whole identities cannot be listed",
    async (_, vars) => {
      const response = await list("?state=unknown", { vars });
      expect(response.status).toBe(501);
      expect((await problemOf(response)).code).toBe("sharding-required");
    },
  );

  it("reads a page through records_by_state: a page costs the rows it returns, not the rows an object holds", async () => {
    const plan = await runInDurableObject(env.COORDINATOR.getByName("shard-0-of-7"), (_, state) =>
      state.storage.sql
        .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${PAGE_OF_STATE}`, "unknown", 1, "a", 0, 5)
        .toArray()
        .map((row) => row.detail)
        .join("\n"),
    );
    expect(plan).toContain("USING INDEX records_by_state");
    expect(plan).not.toContain("USE TEMP B-TREE");
  });
});

describe("lookup and purge by key hash", () => {
  it("look a record up by the keyHash of its log line", async () => {
    const log = vi.spyOn(console, "log");
    const key = newKey();
    await post("/v1/charges", key);
    const line = log.mock.calls
      .map((call) => JSON.parse(String(call[0])) as Json)
      .find((event) => event.event === "idempotency");
    const keyHash = String(line?.keyHash);
    const response = await adminPost("lookup", { keyHash });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      keyHash,
      state: "completed",
      method: "POST",
      path: "/v1/charges",
      status: 201,
      resolvedAt: null,
    });
  });

  it.each([
    ["uppercase hex", "0123456789ABCDEF0123456789ABCDEF"],
    ["31 digits", "0123456789abcdef0123456789abcde"],
    ["33 digits", "0123456789abcdef0123456789abcdef0"],
    ["a letter past f", "0123456789abcdeg0123456789abcdef"],
    ["a number", 1234],
  ])("answers 400 invalid-admin-request to a keyHash of %s", async (_, keyHash) => {
    const response = await adminPost("lookup", { keyHash });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("invalid-admin-request");
  });

  it("answers 400 to a body that names a record both by keyHash and by key", async () => {
    const response = await adminPost("purge", { keyHash: "0".repeat(32), key: "k" });
    expect(response.status).toBe(400);
    expect(String((await problemOf(response)).detail)).toContain("not both");
  });

  it("answers 404 key-not-found to a key hash no live record has", async () => {
    const response = await adminPost("lookup", { keyHash: await keyHashOf(newKey()) });
    expect(response.status).toBe(404);
    expect((await problemOf(response)).code).toBe("key-not-found");
  });

  it("answers 409 key-hash-ambiguous when two live records share the key hash, and acts on neither", async () => {
    const prefix = (await keyHashOf(newKey())).slice(0, 32);
    const twins = [`${prefix}${"0".repeat(32)}`, `${prefix}${"1".repeat(32)}`];
    const stub = env.COORDINATOR.getByName(objectName(prefix, 64));
    const far = Date.now() + 3_600_000;
    await runInDurableObject(stub, (_, state) => {
      for (const identity of twins) {
        state.storage.sql.exec(
          "INSERT INTO records (identity, fingerprint, state, created_at, expires_at, lease_until, detail) VALUES (?, ?, 'unknown', ?, ?, ?, 'test')",
          identity,
          "f".repeat(64),
          Date.now(),
          far,
          Date.now(),
        );
      }
    });
    for (const action of ["lookup", "purge", "resolve"] as const) {
      const response = await adminPost(action, resolution(prefix));
      expect(response.status, action).toBe(409);
      expect((await problemOf(response)).code).toBe("key-hash-ambiguous");
    }
    const left = await runInDurableObject(stub, (_, state) => {
      const count = state.storage.sql
        .exec<{ n: number }>(
          "SELECT COUNT(*) AS n FROM records WHERE identity IN (?, ?) AND state = 'unknown'",
          ...twins,
        )
        .one().n;
      state.storage.sql.exec("DELETE FROM records WHERE identity IN (?, ?)", ...twins);
      return count;
    });
    expect(left).toBe(2);
  });

  it("purge an unknown record by key hash, so that the client's next request is forwarded again", async () => {
    const { key, keyHash } = await unknownKey();
    const purge = await adminPost("purge", { keyHash });
    expect(purge.status).toBe(200);
    expect(await purge.json()).toEqual({ keyHash, purged: true });
    expect((await post("/v1/charges-after-purge", key)).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(2);
    expect((await adminPost("purge", { keyHash: await keyHashOf(newKey()) })).status).toBe(404);
  });

  it("does NOT purge by key hash a record whose origin call is still running (409)", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const purge = await adminPost("purge", { keyHash: await keyHashOf(key) });
    expect(purge.status).toBe(409);
    expect((await problemOf(purge)).code).toBe("request-in-progress");
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("finds a record held under the previous mapping while the shard count changes", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: { IDEMPOTENCY_SHARDS: "10" } });
    const during = { IDEMPOTENCY_SHARDS: "20", IDEMPOTENCY_SHARDS_PREVIOUS: "10" };
    const response = await adminPost("lookup", { keyHash: await keyHashOf(key) }, { vars: during });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ state: "completed" });
  });

  it("answers 501 sharding-required to a key hash with IDEMPOTENCY_SHARDS=0", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: { IDEMPOTENCY_SHARDS: "0" } });
    const vars = { IDEMPOTENCY_SHARDS: "0" };
    const response = await adminPost("lookup", { keyHash: await keyHashOf(key) }, { vars });
    expect(response.status).toBe(501);
    expect((await problemOf(response)).code).toBe("sharding-required");
    // The key and scope still name it.
    const byKey = await adminPost(
      "lookup",
      { key, scope: { authorization: "Bearer sk_test_a" } },
      { vars },
    );
    expect(byKey.status).toBe(200);
  });
});

describe("resolve (POST /__idempotency/keys/resolve)", () => {
  it("stores the operator's answer: the client's retry replays it, marked Idempotent-Replayed, and the origin saw one request", async () => {
    const { key, keyHash } = await unknownKey();
    const response = await adminPost(
      "resolve",
      resolution(keyHash, {
        headers: {
          "content-type": "application/json",
          "x-charge-id": "ch_reconciled",
          "set-cookie": ["a=1", "b=2"],
          "keep-alive": "timeout=5",
          connection: "x-hop",
          "x-hop": "secret",
        },
      }),
    );
    expect(response.status).toBe(200);
    const view = (await response.json()) as Json;
    expect(view).toMatchObject({
      keyHash,
      state: "completed",
      status: 201,
      bodyBytes: RESOLVED_BODY.length,
      method: "POST",
      path: "/hang",
    });
    expect(String(view.detail)).toContain("50 ms");
    expect(Date.parse(String(view.resolvedAt))).toBeGreaterThan(0);

    const retry = await post("/hang", key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(retry.headers.get("x-charge-id")).toBe("ch_reconciled");
    expect(retry.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(retry.headers.get("keep-alive")).toBeNull();
    expect(retry.headers.get("x-hop")).toBeNull();
    expect(await retry.text()).toBe(RESOLVED_BODY);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("keeps the record's fingerprint: a different request under the key is still 422", async () => {
    const { key, keyHash } = await unknownKey();
    expect((await adminPost("resolve", resolution(keyHash))).status).toBe(200);
    const other = await post("/hang", key, { body: '{"amount":2000}' });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe("idempotency-key-reused");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("stores a bodyBase64 answer byte for byte", async () => {
    const { key, keyHash } = await unknownKey();
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const bodyBase64 = btoa(String.fromCharCode(...bytes));
    const response = await adminPost(
      "resolve",
      resolution(keyHash, {
        headers: { "content-type": "application/octet-stream" },
        body: undefined,
        bodyBase64,
      }),
    );
    expect(response.status).toBe(200);
    const retry = await post("/hang", key);
    expect(new Uint8Array(await retry.arrayBuffer())).toEqual(bytes);
  });

  it("stores a large answer in chunks no larger than one storage value, and replays it byte for byte", async () => {
    const { key, keyHash } = await unknownKey();
    const size = 2 * CHUNK_BYTES + 12_345;
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31) % 251);
    let binary = "";
    for (let i = 0; i < size; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    const response = await adminPost(
      "resolve",
      resolution(keyHash, { body: undefined, bodyBase64: btoa(binary) }),
    );
    expect(response.status).toBe(200);
    const { identity, stub } = await coordinatorOfKey(key);
    const stored = await runInDurableObject(stub, (_, state) => [
      state.storage.sql
        .exec<{ n: number }>("SELECT length(body) AS n FROM records WHERE identity = ?", identity)
        .one().n,
      ...state.storage.sql
        .exec<{ n: number }>(
          "SELECT length(data) AS n FROM chunks WHERE identity = ? ORDER BY seq",
          identity,
        )
        .toArray()
        .map((row) => row.n),
    ]);
    expect(stored).toEqual([CHUNK_BYTES, CHUNK_BYTES, 12_345]);
    const retry = await post("/hang", key);
    expect(new Uint8Array(await retry.arrayBuffer())).toEqual(bytes);
  });

  it("refuses an answer over IDEMPOTENCY_MAX_RESPONSE_BYTES of the record's route, and the record stays unknown", async () => {
    const vars = {
      IDEMPOTENCY_ROUTES: JSON.stringify({ "/hang": { IDEMPOTENCY_MAX_RESPONSE_BYTES: "16" } }),
    };
    const { key, keyHash } = await unknownKey(vars);
    const response = await adminPost("resolve", resolution(keyHash, { body: "x".repeat(17) }), {
      vars,
    });
    expect(response.status).toBe(400);
    expect(String((await problemOf(response)).detail)).toContain("IDEMPOTENCY_MAX_RESPONSE_BYTES");
    expect((await post("/hang", key, { vars })).status).toBe(504);
    const fits = await adminPost("resolve", resolution(keyHash, { body: "x".repeat(16) }), {
      vars,
    });
    expect(fits.status).toBe(200);
  });

  it("refuses a status in IDEMPOTENCY_RETRY_STATUSES: such an answer releases the key, so purge instead", async () => {
    const { keyHash } = await unknownKey();
    const response = await adminPost("resolve", resolution(keyHash, { status: 503 }));
    expect(response.status).toBe(400);
    expect(String((await problemOf(response)).detail)).toContain("Purge");
  });

  it.each([
    ["no response", { response: undefined }],
    ["a status below 200", { response: { status: 102 } }],
    ["a status above 599", { response: { status: 600 } }],
    ["a status that is a string", { response: { status: "201" } }],
    ["both body and bodyBase64", { response: { status: 201, body: "a", bodyBase64: "YQ==" } }],
    ["a bodyBase64 that is not base64", { response: { status: 201, bodyBase64: "not base64!" } }],
    ["an invalid header name", { response: { status: 201, headers: { "bad name": "x" } } }],
    ["a header value with a line break", { response: { status: 201, headers: { a: "x\r\ny" } } }],
    ["headers that are not strings", { response: { status: 201, headers: { a: 1 } } }],
    ["a body on a 205, which carries none", { response: { status: 205, body: "x" } }],
    ["a body on a 204", { response: { status: 204, bodyBase64: "eA==" } }],
    ["a body on a 304", { response: { status: 304, body: "x" } }],
  ])("answers 400 invalid-admin-request to %s", async (_, fields) => {
    const response = await adminPost("resolve", {
      keyHash: await keyHashOf(newKey()),
      ...fields,
    });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("invalid-admin-request");
  });

  it.each([204, 205, 304])(
    "resolves with a bodyless %i, and every retry replays it: never a 500",
    async (status) => {
      const { key, keyHash } = await unknownKey();
      const response = await adminPost("resolve", {
        keyHash,
        response: { status, headers: { "x-charge-id": "ch_reconciled" } },
      });
      expect(response.status).toBe(200);
      for (let retry = 0; retry < 2; retry++) {
        const replay = await post("/hang", key);
        expect(replay.status).toBe(status);
        expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
        expect(replay.headers.get("x-charge-id")).toBe("ch_reconciled");
        expect(replay.body).toBeNull();
      }
      expect(await originRequests(key)).toHaveLength(1);
    },
  );

  it("replays a record stored with bytes on a bodyless status (resolved before the check) without them: never a 500", async () => {
    const { key, keyHash } = await unknownKey();
    expect((await adminPost("resolve", resolution(keyHash))).status).toBe(200);
    // What a resolve with {"status":205,"body":"x"} stored before it was refused.
    const { identity, stub } = await coordinatorOfKey(key);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE records SET status = 205 WHERE identity = ?", identity);
    });
    const vars = { IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" };
    const replay = await post("/hang", key, { vars });
    expect(replay.status).toBe(205);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(replay.body).toBeNull();
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers 404 key-not-found when no live record has the key hash", async () => {
    const response = await adminPost("resolve", resolution(await keyHashOf(newKey())));
    expect(response.status).toBe(404);
    expect((await problemOf(response)).code).toBe("key-not-found");
  });

  it("answers 409 record-not-unknown to a completed record, and leaves its answer alone", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key);
    const body = await first.text();
    const response = await adminPost("resolve", resolution(await keyHashOf(key)));
    expect(response.status).toBe(409);
    expect((await problemOf(response)).code).toBe("record-not-unknown");
    expect(await (await post("/v1/charges", key)).text()).toBe(body);
  });

  it("answers 409 record-not-unknown to a record whose origin call is still running", async () => {
    const key = newKey();
    const gate = newKey();
    const first = post(`/gate/${gate}/v1/charges`, key);
    await originArrivals(gate, 1);
    const response = await adminPost("resolve", resolution(await keyHashOf(key)));
    expect(response.status).toBe(409);
    expect((await problemOf(response)).code).toBe("record-not-unknown");
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("resolves, and lists as unknown, records left in flight by a dead instance once their lease has ended, never before", async () => {
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000" };
    const gate = newKey();
    const resolved = newKey();
    const listed = newKey();
    const failed = [resolved, listed].map((key) =>
      post(`/gate/${gate}/v1/charges`, key, { vars }).then(
        (response) => response.status === 500,
        () => true,
      ),
    );
    await originArrivals(gate, 2);
    await abortAllDurableObjects();
    expect(await Promise.all(failed)).toEqual([true, true]);
    const resolvedHash = await keyHashOf(resolved);
    const listedHash = await keyHashOf(listed);
    expect((await adminPost("resolve", resolution(resolvedHash), { vars })).status).toBe(409);
    const unknownNow = async () =>
      ((await (await list("?state=unknown&limit=200", { vars })).json()) as { records: Json[] })
        .records;
    expect((await unknownNow()).map((record) => record.keyHash)).not.toContain(listedHash);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 10_000);
    expect((await adminPost("resolve", resolution(resolvedHash), { vars })).status).toBe(200);
    expect((await unknownNow()).find((record) => record.keyHash === listedHash)).toMatchObject({
      state: "unknown",
      detail: expect.stringContaining("lost track") as unknown,
    });
    const retry = await post(`/gate/${gate}/v1/charges`, resolved, { vars });
    expect(await retry.text()).toBe(RESOLVED_BODY);
    vi.useRealTimers();
    await releaseGate(gate);
    expect(await originRequests(resolved)).toHaveLength(1);
    expect(await originRequests(listed)).toHaveLength(1);
  });

  it("reads, lists and resolves a record claimed before method and path were kept", async () => {
    const vars = { IDEMPOTENCY_SHARDS: "13" };
    const { key, keyHash } = await unknownKey(vars);
    const { identity } = await coordinatorOfKey(key);
    const stub = env.COORDINATOR.getByName(objectName(identity, 13));
    // The object as the previous version left it: no added columns. Its next instance adds them.
    await runInDurableObject(stub, (_, state) => {
      for (const column of ["method", "path", "resolved_at"]) {
        state.storage.sql.exec(`ALTER TABLE records DROP COLUMN ${column}`);
      }
    });
    await evictDurableObject(stub);
    const listed = (await (await list("?state=unknown", { vars })).json()) as { records: Json[] };
    expect(listed.records).toEqual([
      expect.objectContaining({ keyHash, state: "unknown", method: null, path: null }),
    ]);
    const resolved = await adminPost("resolve", resolution(keyHash), { vars });
    expect(resolved.status).toBe(200);
    expect(await resolved.json()).toMatchObject({ method: null, path: null, state: "completed" });
    const retry = await post("/hang", key, { vars });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(RESOLVED_BODY);
  });

  it("logs and counts each resolve and purge with the operator's actor hash, the key hash and the new state — never the token", async () => {
    const first = await unknownKey();
    const second = await unknownKey();
    const log = vi.spyOn(console, "log");
    const writeDataPoint = vi.fn();
    const vars = { METRICS: { writeDataPoint } };
    await adminPost("resolve", resolution(first.keyHash), { vars });
    await adminPost("purge", { keyHash: second.keyHash }, { vars });
    await adminPost("purge", { keyHash: second.keyHash }, { vars, token: "wrong" });
    const lines = log.mock.calls.map((call) => String(call[0]));
    const events = lines.map((line) => JSON.parse(line) as Json);
    expect(events).toEqual([
      expect.objectContaining({
        event: "admin",
        action: "resolve",
        result: "resolved",
        keyHash: first.keyHash,
        state: "completed",
        actor: expect.stringMatching(/^[0-9a-f]{12}$/) as unknown,
      }),
      expect.objectContaining({
        event: "admin",
        action: "purge",
        result: "purged",
        keyHash: second.keyHash,
        state: "none",
      }),
      expect.objectContaining({ event: "admin", action: "purge", result: "unauthorized" }),
    ]);
    expect(events[1]?.actor).toBe(events[0]?.actor);
    expect(events[2]?.actor).toBeUndefined();
    for (const line of lines) {
      expect(line).not.toContain(ADMIN_TOKEN);
      expect(line).not.toContain(first.key);
    }
    expect(writeDataPoint.mock.calls.map((call) => (call[0] as { blobs: string[] }).blobs)).toEqual(
      [
        ["admin", "resolve", "resolved"],
        ["admin", "purge", "purged"],
        ["admin", "purge", "unauthorized"],
      ],
    );
  });
});

describe("an operator racing the client's retry", () => {
  it("resolve and a retry started together: the origin saw one request, and every answer is the 504 or the resolved one", async () => {
    const { key, keyHash } = await unknownKey();
    const [resolved, retry] = await Promise.all([
      adminPost("resolve", resolution(keyHash)),
      post("/hang", key),
    ]);
    expect(resolved.status).toBe(200);
    if (retry.status === 504) {
      expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    } else {
      expect(retry.status).toBe(201);
      expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
      expect(await retry.text()).toBe(RESOLVED_BODY);
    }
    const after = await post("/hang", key);
    expect(after.status).toBe(201);
    expect(await after.text()).toBe(RESOLVED_BODY);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("purge and a retry started together: the retry is refused with 504 or forwarded, and the key reaches the origin at most once more", async () => {
    // The first attempt times out at a gate; once the gate opens, the same request is answered.
    const key = newKey();
    const gate = newKey();
    const path = `/gate/${gate}/v1/charges`;
    expect((await post(path, key, { vars: FAST_TIMEOUT })).status).toBe(504);
    await releaseGate(gate);
    const keyHash = await keyHashOf(key);
    const [purged, retry] = await Promise.all([adminPost("purge", { keyHash }), post(path, key)]);
    expect(purged.status).toBe(200);
    expect([201, 504]).toContain(retry.status);
    const forwarded = retry.status === 201 ? 1 : 0;
    expect(await originRequests(key)).toHaveLength(1 + forwarded);
    // Whichever came first, the key is now free or holds the forwarded answer: one more request
    // at most, and the answers agree.
    const next = await post(path, key);
    expect(next.status).toBe(201);
    if (forwarded === 1) {
      expect(next.headers.get(REPLAYED_HEADER)).toBe("true");
      expect(await next.text()).toBe(await retry.text());
    }
    expect(await originRequests(key)).toHaveLength(2);
  });
});

describe("the console (GET /__idempotency/console)", () => {
  it("does not exist without ADMIN_TOKEN: a 404 problem, like the API", async () => {
    const response = await gateway("/__idempotency/console");
    expect(response.status).toBe(404);
    expect((await problemOf(response)).code).toBe("not-found");
  });

  it("is one HTML page whose inline script and style the Content-Security-Policy allows by hash, never 'unsafe-inline', and that loads nothing from elsewhere", async () => {
    const response = await gateway("/__idempotency/console", {}, ADMIN);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const policy = String(response.headers.get("content-security-policy"));
    const html = await response.text();
    const hash = async (text: string) =>
      btoa(
        String.fromCharCode(
          ...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
        ),
      );
    expect(html).toContain(`<script>${CONSOLE_SCRIPT}</script>`);
    expect(html).toContain(`<style>${CONSOLE_STYLE}</style>`);
    expect(policy).toContain(`script-src 'sha256-${await hash(CONSOLE_SCRIPT)}'`);
    expect(policy).toContain(`style-src 'sha256-${await hash(CONSOLE_STYLE)}'`);
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain("unsafe-inline");
    expect(policy).not.toContain("unsafe-eval");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//);
    expect(html).not.toContain(ADMIN_TOKEN);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("set-cookie")).toBeNull();
  });
});
