import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway } from "./harness";

/**
 * `wrangler dev --persist-to DIR` killed (SIGKILL, as a crash) and restarted: completed records
 * still replay, and a request that was at the origin when the gateway died is never forwarded
 * again.
 */

let origin: TestOrigin;
let stateDir: string;
const running: WranglerDev[] = [];

beforeAll(async () => {
  origin = await startTestOrigin();
  stateDir = mkdtempSync(path.join(tmpdir(), "idem-e2e-"));
});

afterAll(async () => {
  await Promise.all(running.map((g) => g.stop()));
  await origin?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

async function gateway(): Promise<WranglerDev> {
  const g = await startGateway(origin.url, {}, stateDir);
  running.push(g);
  return g;
}

describe("a gateway killed and restarted with --persist-to", () => {
  it("replays completed records and fails closed on the request that was in flight", async () => {
    const done = randomUUID();
    const inflight = randomUUID();
    const gate = randomUUID();

    const before = await gateway();
    const first = await send(before, "/v1/charges", { key: done });
    const firstBody = await first.text();
    // Handled from the start: it fails while the test is still killing the gateway.
    const pendingFailed = send(before, `/gate/${gate}/v1/charges`, { key: inflight }).then(
      () => false,
      () => true,
    );
    await origin.arrivals(gate, 1);
    await before.kill();
    expect(await pendingFailed).toBe(true);

    const after = await gateway();
    const replay = await send(after, "/v1/charges", { key: done });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(firstBody);

    // The origin may still be working on it: never a second forward.
    const retry = await send(after, `/gate/${gate}/v1/charges`, { key: inflight });
    expect([409, 504]).toContain(retry.status);
    expect(["request-in-progress", "origin-outcome-unknown"]).toContain(
      (await problemOf(retry)).code,
    );
    origin.release(gate);
    expect(origin.requests(done)).toHaveLength(1);
    expect(origin.requests(inflight)).toHaveLength(1);
  });
});
