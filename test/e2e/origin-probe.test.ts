import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { freePort } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { problemOf, send, startGateway, startGateways } from "./harness";

/**
 * The reachability probe's settings over real HTTP against `wrangler dev` (docs/adr/0005): a
 * fresh gateway has heard nothing from its origin, so its first covered request is probed.
 */

let origin: TestOrigin;
/** Probes a path the origin resets, as a firewall that resets a bare `HEAD` would. */
let resetProbe: WranglerDev;
/** The probe off, in front of a port nothing listens on. */
let probeOff: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  const closed = await freePort();
  [resetProbe, probeOff] = (await startGateways([
    startGateway(origin.url, { IDEMPOTENCY_PROBE_PATH: "/reset" }),
    startGateway(`http://127.0.0.1:${closed}`, { IDEMPOTENCY_PROBE_PATH: "off" }),
  ])) as [WranglerDev, WranglerDev];
});

afterAll(async () => {
  await Promise.all([resetProbe?.stop(), probeOff?.stop()]);
  await origin?.close();
});

describe("the origin probe over wrangler dev", () => {
  it("sends its HEAD to IDEMPOTENCY_PROBE_PATH, logs the result, and answers 502 with nothing forwarded when that path is reset", async () => {
    const key = randomUUID();
    const response = await send(resetProbe, "/v1/charges", { key });
    expect(response.status).toBe(502);
    expect((await problemOf(response)).code).toBe("origin-unreachable");
    expect(origin.requests(key)).toHaveLength(0);
    await resetProbe.waitForOutput('"event":"origin-probe","result":"unreachable"');
    await resetProbe.waitForOutput('"probe":"unreachable"');
  });

  it("with the probe off, fails closed on a refused connection: 504 origin-outcome-unknown for the request and its retry", async () => {
    const key = randomUUID();
    const first = await send(probeOff, "/v1/charges", { key });
    expect(first.status).toBe(504);
    expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
    const retry = await send(probeOff, "/v1/charges", { key });
    expect(retry.status).toBe(504);
    expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    expect(probeOff.output()).not.toContain('"event":"origin-probe"');
  });
});
