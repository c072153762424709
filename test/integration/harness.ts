import {
  createExecutionContext,
  evictAllDurableObjects,
  listDurableObjectIds,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, expect, vi } from "vitest";
import { IdempotencyCoordinator } from "../../src/coordinator/coordinator";
import { REGISTRY_NAME } from "../../src/coordinator/mapping-registry";
import worker from "../../src/index";
import { keyHashOf } from "../../src/core/key-hash";
import { keyIdentity } from "../../src/core/key-identity";
import type { GatewayEnv } from "../../src/env";
import type { VariableName } from "../../src/config/settings";
import { hopMarker } from "../../src/http/hop";
import { objectName } from "../../src/core/object-name";
import type { SeenRequest } from "../../harness/test-origin";

/**
 * Helpers for integration tests: the real Worker and coordinator inside workerd, the real test
 * origin on loopback (started by test/support/global-setup.ts), controlled over HTTP.
 */

/** The test origin's base URL (the Worker's ORIGIN_URL). */
export const ORIGIN = env.ORIGIN_URL;

/**
 * Each test starts with an empty mapping registry: the tests of a file share storage, and many
 * choose their own shard count, which a real deployment would have to migrate to.
 */
beforeEach(async () => {
  await runInDurableObject(env.COORDINATOR.getByName(REGISTRY_NAME), (_, state) => {
    state.storage.sql.exec("DELETE FROM registry");
  });
});

/**
 * Makes every object forget the registry's verdicts it keeps (docs/adr/0009), in storage and in
 * memory (by evicting it), so that the next claim asks the registry again: for tests whose
 * subject is the registry's answer, in a file where earlier tests had a mapping accepted.
 */
export async function forgetVerdicts(): Promise<void> {
  const ids = await listDurableObjectIds(env.COORDINATOR);
  await Promise.all(
    ids.map((id) =>
      runInDurableObject(env.COORDINATOR.get(id), (_, state) => {
        state.storage.sql.exec("DELETE FROM mapping_verdicts");
      }),
    ),
  );
  await evictAllDurableObjects();
}

/** This deployment's hop marker: what the gateway puts on every request to the origin. */
export const HOP = hopMarker(env.COORDINATOR);

/**
 * A promise held until `release`: what a fake stands on to hang a call (a stuck object, a
 * registry that does not answer) until the test lets it go.
 */
export function held(): { until: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const until = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { until, release };
}

/**
 * Edge replays off (docs/adr/0008): for tests whose subject is what the coordinators do, which a
 * replay from the Worker's memory would answer without them.
 */
export const EDGE_OFF = { IDEMPOTENCY_EDGE_REPLAY_SECONDS: "0" } as const;

/**
 * Counts the commands that reach a coordinator object from now on: a test that proves a path
 * through the objects asserts that it was taken.
 */
export function countExecutes(): { readonly count: number } {
  const spy = vi.spyOn(IdempotencyCoordinator.prototype, "execute");
  return {
    get count() {
      return spy.mock.calls.length;
    },
  };
}

/**
 * Resolves once `counter` (`countExecutes`) has seen `count` commands. A command joins a request
 * in flight, or is redirected, synchronously on arrival, so a test that releases an origin call
 * after this knows every duplicate is already waiting on it. It polls: a promise resolved inside
 * an object would resume the test in that object's I/O context, which the runtime forbids.
 */
export async function executesReached(
  counter: { readonly count: number },
  count: number,
): Promise<void> {
  await vi.waitFor(() => expect(counter.count).toBeGreaterThanOrEqual(count), {
    timeout: 5_000,
    interval: 2,
  });
}

/** A fresh key per test: storage is shared by the tests of a file. */
export function newKey(): string {
  return crypto.randomUUID();
}

/** Bindings to override for one call: wrangler `vars` strings, secrets, or binding fakes. */
export type Vars = Partial<Record<keyof GatewayEnv | VariableName, unknown>>;

/**
 * Sends a request through the Worker's real `fetch` handler, with `vars` overriding the
 * configured variables, and waits for its `waitUntil` work.
 */
export async function gateway(path: string, init: RequestInit = {}, vars: Vars = {}) {
  const ctx = createExecutionContext();
  // An incoming request carries `cf` properties a constructed one lacks; the handler reads none.
  const request = new Request(`https://api.example.com${path}`, init) as Parameters<
    typeof worker.fetch
  >[0];
  const response = await worker.fetch(request, { ...env, ...vars } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

/** A POST with a key (and an Authorization header unless `headers` says otherwise). */
export function post(
  path: string,
  key: string | null,
  { body = '{"amount":1000}', headers = {}, vars = {}, method = "POST" }: PostOptions = {},
) {
  const all: Record<string, string> = {
    authorization: "Bearer sk_test_a",
    "content-type": "application/json",
    ...headers,
  };
  if (key !== null) all["idempotency-key"] = key;
  return gateway(path, { method, headers: all, body }, vars);
}

/** Options of `post`. */
export interface PostOptions {
  body?: string | Uint8Array | null;
  headers?: Record<string, string>;
  vars?: Vars;
  method?: string;
}

/** What the origin saw with this key. */
export async function originRequests(key: string): Promise<SeenRequest[]> {
  const response = await fetch(`${ORIGIN}/__control/requests?key=${encodeURIComponent(key)}`);
  return response.json();
}

/** Resolves once `count` requests wait at the origin's gate `gate`. */
export async function originArrivals(gate: string, count = 1): Promise<void> {
  const response = await fetch(`${ORIGIN}/__control/arrivals?gate=${gate}&count=${count}`);
  await response.arrayBuffer();
}

/** Lets the requests held at `gate` (and any later ones) through. */
export async function releaseGate(gate: string): Promise<void> {
  const response = await fetch(`${ORIGIN}/__control/release?gate=${gate}`, { method: "POST" });
  await response.arrayBuffer();
}

/** The default shard count (wrangler.toml). */
export const DEFAULT_SHARDS = 64;

/** The coordinator stub that owns `key` under `authorization` (the default mapping unless given). */
export async function coordinatorOfKey(
  key: string,
  { authorization = "Bearer sk_test_a", shards = DEFAULT_SHARDS } = {},
) {
  const identity = await keyIdentity(
    ["authorization"],
    (name) => (name === "authorization" ? authorization : null),
    key,
  );
  return { identity, stub: env.COORDINATOR.getByName(objectName(identity, shards)) };
}

/** The key hash the Worker logs for `key` under this project's test `KEY_HASH_SECRET`. */
export async function keyHashOfKey(
  key: string,
  { authorization = "Bearer sk_test_a" } = {},
): Promise<string> {
  const { identity } = await coordinatorOfKey(key, { authorization });
  return keyHashOf(identity, TEST_KEY_HASH_SECRET);
}

/** The `KEY_HASH_SECRET` the workerd projects run with (`vitest.config.ts`). */
export const TEST_KEY_HASH_SECRET: string = (env as GatewayEnv).KEY_HASH_SECRET ?? "";

/** The problem+json document of a response. */
export async function problemOf(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}
