import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { REGISTRY_NAME } from "../../src/coordinator/mapping-registry";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { objectName } from "../../src/core/object-name";
import {
  EDGE_OFF,
  coordinatorOfKey,
  countExecutes,
  forgetVerdicts,
  newKey,
  originRequests,
  post,
  problemOf,
} from "./harness";

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * Placement (docs/operations.md, "Placement"): `IDEMPOTENCY_LOCATION_HINT` and `IDEMPOTENCY_JURISDICTION`
 * choose where the coordinators live. Both are part of the key → object mapping (docs/adr/0006):
 * a key goes to a differently named or differently scoped object, so a change is refused unless
 * made as a migration, and a migration never forwards a stored key again.
 */

type Namespace = typeof env.COORDINATOR;

/**
 * workerd does not implement jurisdictions (`jurisdiction()` throws "Jurisdiction restrictions
 * are not implemented in workerd."). In production a jurisdiction's namespace gives every name
 * another id (Cloudflare docs, "Durable Objects: Data location"), so this stands in for that one
 * method with a separate space of names in the real namespace; everything else is the binding.
 */
function jurisdictionSpace(jurisdiction: string): string {
  return `jurisdiction=${jurisdiction}/`;
}
const WITH_JURISDICTIONS = {
  getByName: (name: string, options?: DurableObjectNamespaceGetDurableObjectOptions) =>
    env.COORDINATOR.getByName(name, options),
  idFromName: (name: string) => env.COORDINATOR.idFromName(name),
  jurisdiction: (jurisdiction: string) => ({
    getByName: (name: string, options?: DurableObjectNamespaceGetDurableObjectOptions) =>
      env.COORDINATOR.getByName(jurisdictionSpace(jurisdiction) + name, options),
  }),
} as unknown as Namespace;

const HINTED = { IDEMPOTENCY_LOCATION_HINT: "enam", COORDINATOR: WITH_JURISDICTIONS };
const IN_EU = { IDEMPOTENCY_JURISDICTION: "eu", COORDINATOR: WITH_JURISDICTIONS };
/** The same deployment before a placement is set. */
const PLAIN = { COORDINATOR: WITH_JURISDICTIONS };

/** The identity of `key` under the harness's credential, and its shard name under 64 shards. */
async function shardOf(key: string) {
  const { identity } = await coordinatorOfKey(key);
  return { identity, shard: objectName(identity, 64) };
}

async function registryMappings(): Promise<string> {
  return runInDurableObject(env.COORDINATOR.getByName(REGISTRY_NAME), (_, state) =>
    state.storage.sql
      .exec<{ state: string }>("SELECT state FROM registry")
      .toArray()
      .map((row) => row.state)
      .join(),
  );
}

describe("placement of the coordinators", () => {
  // Each test meets the registry afresh: an object must not claim under a verdict it kept in
  // memory from an earlier test's configuration (docs/adr/0009).
  beforeEach(forgetVerdicts);

  it("keeps a key in an object named for the location hint, created there on first use", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key, { vars: HINTED })).status).toBe(201);
    const { identity, shard } = await shardOf(key);
    expect(await env.COORDINATOR.getByName(`${shard}@enam`).lookup(identity)).not.toBeNull();
    expect(await env.COORDINATOR.getByName(shard).lookup(identity)).toBeNull();
    const retry = await post("/v1/charges", key, { vars: HINTED });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
  });

  it("keeps a key and its stored answer in the jurisdiction's objects only", async () => {
    const key = newKey();
    expect((await post("/v1/charges", key, { vars: IN_EU })).status).toBe(201);
    const { identity, shard } = await shardOf(key);
    const inEu = env.COORDINATOR.getByName(jurisdictionSpace("eu") + shard);
    expect(await inEu.lookup(identity)).not.toBeNull();
    expect(await env.COORDINATOR.getByName(shard).lookup(identity)).toBeNull();
    const retry = await post("/v1/charges", key, { vars: IN_EU });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("records the mapping in the registry of the unrestricted namespace, whatever the jurisdiction", async () => {
    await post("/v1/charges", newKey(), { vars: { ...IN_EU, ...HINTED } });
    expect(await registryMappings()).toContain("v1/shards=64/jurisdiction=eu/hint=enam");
  });

  it.each([
    ["IDEMPOTENCY_LOCATION_HINT", HINTED],
    ["IDEMPOTENCY_JURISDICTION", IN_EU],
  ])(
    "refuses %s changed without a migration, naming it, and forwards nothing",
    async (variable, changed) => {
      await post("/v1/charges", newKey(), { vars: PLAIN });
      const key = newKey();
      const response = await post("/v1/charges", key, { vars: changed });
      expect(response.status).toBe(500);
      const problem = await problemOf(response);
      expect(problem.code).toBe("invalid-configuration");
      expect(String(problem.detail)).toContain(variable);
      expect(String(problem.detail)).toContain("IDEMPOTENCY_MAPPING_PREVIOUS=v1/shards=64");
      expect(await originRequests(key)).toHaveLength(0);
    },
  );
});

describe("moving the coordinators (a migration with IDEMPOTENCY_MAPPING_PREVIOUS)", () => {
  // Edge replays off: the subject is how the objects of the two mappings arbitrate.
  const OLD = { ...PLAIN, ...EDGE_OFF };
  const NEW = { ...HINTED, ...IN_EU, IDEMPOTENCY_MAPPING_PREVIOUS: "v1/shards=64", ...EDGE_OFF };

  it("replays keys stored before the move, and places new keys in the new objects", async () => {
    const stored = newKey();
    const first = await post("/v1/charges", stored, { vars: OLD });
    const reached = countExecutes();
    const retry = await post("/v1/charges", stored, { vars: NEW });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    // Answered by the old object, which holds the record: one command, no redirect.
    expect(reached.count).toBe(1);
    expect(await retry.text()).toBe(await first.text());
    expect(await originRequests(stored)).toHaveLength(1);

    const fresh = newKey();
    await post("/v1/charges", fresh, { vars: NEW });
    const { identity, shard } = await shardOf(fresh);
    const placed = env.COORDINATOR.getByName(`${jurisdictionSpace("eu")}${shard}@enam`);
    expect(await placed.lookup(identity)).not.toBeNull();
  });

  it("lets an old Worker, still without the hint, find a key a new Worker stored: a replay, never a second forward", async () => {
    await post("/v1/charges", newKey(), { vars: OLD });
    const key = newKey();
    const first = await post("/v1/charges", key, { vars: NEW });
    expect(first.status).toBe(201);
    const reached = countExecutes();
    const old = await post("/v1/charges", key, { vars: OLD });
    expect(old.headers.get(REPLAYED_HEADER)).toBe("true");
    // The old object's marker sent the old Worker to the new object: two commands.
    expect(reached.count).toBe(2);
    expect(await old.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("refuses a previous mapping that names the current one", async () => {
    const key = newKey();
    const response = await post("/v1/charges", key, {
      vars: { ...HINTED, IDEMPOTENCY_MAPPING_PREVIOUS: "v1/shards=64/hint=enam" },
    });
    expect(response.status).toBe(500);
    expect(String((await problemOf(response)).detail)).toContain("IDEMPOTENCY_MAPPING_PREVIOUS");
    expect(await originRequests(key)).toHaveLength(0);
  });
});
