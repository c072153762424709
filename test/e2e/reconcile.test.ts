import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { keyIdentity } from "../../src/core/key-identity";
import { keyHashOf } from "../../src/core/key-hash";
import { E2E_KEY_HASH_SECRET, problemOf, send, startGateway } from "./harness";

/**
 * Reconciling an unknown outcome over real HTTP against `wrangler dev` (docs/operations.md, "Reconciling an
 * unknown outcome"): the operator has the log line, not the customer's key or credential.
 */

const ADMIN_TOKEN = "e2e-reconcile-admin-token-0123456789";
const RESOLVED_BODY = '{"id":"ch_e2e_reconciled","status":"succeeded"}';

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, {
    ADMIN_TOKEN,
    IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300",
    IDEMPOTENCY_SHARDS: "4",
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

function admin(path: string, body?: unknown): Promise<Response> {
  return fetch(`${gateway.url}/__idempotency/keys${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** The JSON log lines the gateway printed that contain `marker`. */
function logLines(marker: string): Record<string, unknown>[] {
  return gateway
    .output()
    .split("\n")
    .filter((line) => line.includes(marker))
    .map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>);
}

describe("reconciling an unknown outcome over HTTP", () => {
  it("takes the key hash from the 504's log line, finds it in the listing, resolves it, and the client's retry replays the answer", async () => {
    const key = randomUUID();
    const timedOut = await send(gateway, "/hang", { key });
    expect(timedOut.status).toBe(504);
    expect((await problemOf(timedOut)).code).toBe("origin-outcome-unknown");

    await gateway.waitForOutput('"outcome":"outcome-unknown"');
    const keyHash = String(logLines('"outcome":"outcome-unknown"').at(-1)?.keyHash);
    const identity = await keyIdentity(
      ["authorization"],
      (name) => (name === "authorization" ? "Bearer sk_test_e2e" : null),
      key,
    );
    // Keyed (src/core/key-hash.ts): not the identity's prefix, which a guessed key would confirm.
    expect(keyHash).toBe(await keyHashOf(identity, E2E_KEY_HASH_SECRET));
    expect(keyHash).not.toBe(identity.slice(0, 32));

    const listed = await admin("?state=unknown");
    expect(listed.status).toBe(200);
    const page = (await listed.json()) as { records: Record<string, unknown>[] };
    expect(page.records).toContainEqual(
      expect.objectContaining({ keyHash, state: "unknown", method: "POST", path: "/hang" }),
    );

    const resolved = await admin("/resolve", {
      keyHash,
      response: {
        status: 201,
        headers: { "content-type": "application/json" },
        body: RESOLVED_BODY,
      },
    });
    expect(resolved.status).toBe(200);
    expect(await resolved.json()).toMatchObject({ keyHash, state: "completed", status: 201 });

    const retry = await send(gateway, "/hang", { key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("content-type")).toBe("application/json");
    expect(await retry.text()).toBe(RESOLVED_BODY);
    const other = await send(gateway, "/hang", { key, body: '{"amount":2}' });
    expect(other.status).toBe(422);
    expect(origin.requests(key)).toHaveLength(1);

    await gateway.waitForOutput('"action":"resolve"');
    expect(logLines('"action":"resolve"')).toEqual([
      expect.objectContaining({ result: "resolved", keyHash, state: "completed" }),
    ]);
    expect(gateway.output()).not.toContain(ADMIN_TOKEN);
    expect(gateway.output()).not.toContain(key);
  });
});
