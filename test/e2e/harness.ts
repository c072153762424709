import { expect } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startWranglerDev, type WranglerDev } from "../../harness/wrangler-dev.ts";

/**
 * End-to-end helpers: real `wrangler dev` processes in front of a real origin, over real HTTP
 * on 127.0.0.1.
 */

/**
 * Starts the gateway in front of `originUrl` with extra `vars`. Without `persistTo`, each gateway
 * gets a state folder of its own (removed when it stops): processes sharing wrangler's default
 * `.wrangler/state` would share Durable Object databases and fail on SQLite locks.
 */
export async function startGateway(
  originUrl: string,
  vars: Record<string, string> = {},
  persistTo?: string,
): Promise<WranglerDev> {
  const own = persistTo === undefined ? mkdtempSync(path.join(tmpdir(), "idem-e2e-")) : null;
  const dev = await startWranglerDev({
    vars: { ORIGIN_URL: originUrl, ...vars },
    persistTo: persistTo ?? (own as string),
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
