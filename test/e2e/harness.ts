import { expect } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  createRegistry,
  startCoordinator,
  startGatewayAlone,
  startWranglerDev,
  type WranglerDev,
} from "../../harness/wrangler-dev.ts";

/**
 * End-to-end helpers: real `wrangler dev` processes in front of a real origin, over real HTTP
 * on 127.0.0.1.
 */

/**
 * The `KEY_HASH_SECRET` every gateway started here has unless `vars` say otherwise: its log lines
 * and admin API carry keyed key hashes, as a deployment's do (src/core/key-hash.ts).
 */
export const E2E_KEY_HASH_SECRET = "e2e-key-hash-secret-0123456789abcdef01234";

/**
 * Starts the gateway in front of `originUrl` with extra `vars` (over `KEY_HASH_SECRET` set to
 * `E2E_KEY_HASH_SECRET`): its two Workers, the gateway and the coordinator Worker, in one session. Without `persistTo`, each gateway gets a state folder of
 * its own (removed when it stops): processes sharing wrangler's default `.wrangler/state` would
 * share Durable Object databases and fail on SQLite locks.
 */
export async function startGateway(
  originUrl: string,
  vars: Record<string, string> = {},
  persistTo?: string,
): Promise<WranglerDev> {
  const own = persistTo === undefined ? mkdtempSync(path.join(tmpdir(), "idem-e2e-")) : null;
  const dev = await startWranglerDev({
    vars: { ORIGIN_URL: originUrl, KEY_HASH_SECRET: E2E_KEY_HASH_SECRET, ...vars },
    persistTo: persistTo ?? (own as string),
  }).catch((error: unknown) => {
    if (own !== null) rmSync(own, { recursive: true, force: true });
    throw error;
  });
  if (own === null) return dev;
  const stop = dev.stop;
  return {
    ...dev,
    stop: async () => {
      await stop();
      rmSync(own, { recursive: true, force: true });
    },
  };
}

/**
 * Starts several gateways at once. If any fails to start, the others are stopped before the
 * error is rethrown: `afterAll` never sees them, and they would outlive the test run.
 */
export async function startGateways(
  starts: readonly Promise<WranglerDev>[],
): Promise<WranglerDev[]> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed === undefined) {
    return settled.map((s) => (s as PromiseFulfilledResult<WranglerDev>).value);
  }
  await Promise.all(settled.map((s) => (s.status === "fulfilled" ? s.value.stop() : undefined)));
  throw failed.reason;
}

/**
 * The two Workers in two `wrangler dev` sessions that find each other through a dev registry of
 * their own, as deployed: either can be stopped and started again while the other keeps running,
 * which is what a deploy of one Worker does (docs/adr/0010).
 */
export interface SplitDeployment {
  /** The gateway session now (a new one after `redeployGateway`). */
  readonly gateway: WranglerDev;
  /** The coordinator session now (a new one after `redeployCoordinator`). */
  readonly coordinator: WranglerDev;
  /**
   * Stops the gateway session with SIGTERM, as a deploy ends the old version, and starts it again
   * on the same port, with the same vars; resolves once the new session serves.
   */
  redeployGateway(): Promise<WranglerDev>;
  /**
   * Stops the coordinator session with SIGTERM and starts it again on the same storage; resolves
   * once the gateway session has reconnected to it.
   */
  redeployCoordinator(): Promise<WranglerDev>;
  /** Stops both sessions and removes their state and registry. */
  stop(): Promise<void>;
}

/**
 * Starts the coordinator Worker, then the gateway in front of `originUrl` with `vars`, in two
 * sessions sharing a fresh dev registry; each keeps its state in a folder of its own across
 * redeploys.
 */
export async function startSplitDeployment(
  originUrl: string,
  vars: Record<string, string> = {},
): Promise<SplitDeployment> {
  const registry = createRegistry();
  const coordinatorState = mkdtempSync(path.join(tmpdir(), "idem-e2e-coordinator-"));
  const gatewayState = mkdtempSync(path.join(tmpdir(), "idem-e2e-gateway-"));
  const gatewayVars = { ORIGIN_URL: originUrl, KEY_HASH_SECRET: E2E_KEY_HASH_SECRET, ...vars };
  const cleanUp = () => {
    for (const dir of [coordinatorState, gatewayState])
      rmSync(dir, { recursive: true, force: true });
    registry.remove();
  };
  const newCoordinator = () =>
    startCoordinator({ registry: registry.path, persistTo: coordinatorState });
  const newGateway = (port?: number) =>
    startGatewayAlone({
      registry: registry.path,
      persistTo: gatewayState,
      vars: gatewayVars,
      ...(port !== undefined ? { port } : {}),
    });

  let coordinator: WranglerDev;
  let gateway: WranglerDev;
  try {
    coordinator = await newCoordinator();
  } catch (error) {
    cleanUp();
    throw error;
  }
  try {
    gateway = await newGateway();
  } catch (error) {
    await coordinator.stop();
    cleanUp();
    throw error;
  }
  return {
    get gateway() {
      return gateway;
    },
    get coordinator() {
      return coordinator;
    },
    async redeployGateway() {
      const port = gateway.port;
      await gateway.stop();
      gateway = await newGateway(port);
      return gateway;
    },
    async redeployCoordinator() {
      await coordinator.stop();
      // The gateway prints its bindings' status again when the registry shows the new session.
      const mark = gateway.output().length;
      coordinator = await newCoordinator();
      await gateway.waitForOutput("[connected]", 30_000, mark);
      return coordinator;
    },
    async stop() {
      await Promise.all([gateway.stop(), coordinator.stop()]);
      cleanUp();
    },
  };
}

/** Options of `send`. */
export interface SendOptions {
  key?: string | null;
  method?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Sends a request through a gateway, with a key and an Authorization header by default. */
export function send(
  gateway: WranglerDev,
  path: string,
  { key = null, method = "POST", body = '{"amount":1000}', headers = {}, signal }: SendOptions = {},
): Promise<Response> {
  const all: Record<string, string> = {
    authorization: "Bearer sk_test_e2e",
    "content-type": "application/json",
    ...headers,
  };
  if (key !== null) all["idempotency-key"] = key;
  return fetch(`${gateway.url}${path}`, {
    method,
    headers: all,
    body,
    ...(signal !== undefined ? { signal } : {}),
  });
}

/** The problem+json document of a response. */
export async function problemOf(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as Record<string, unknown>;
}
