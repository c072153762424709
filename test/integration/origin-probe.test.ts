import { afterEach, describe, expect, it, vi } from "vitest";
import { CONTACT_WINDOW_MS } from "../../src/coordinator/origin-probe";
import { newKey, originRequests, post, problemOf, type Vars } from "./harness";

/**
 * The reachability probe's settings (docs/adr/0005): `IDEMPOTENCY_PROBE_PATH` names where the
 * `HEAD` goes, `off` turns it off, and every probe's result is logged and counted.
 *
 * The probe is sent when this isolate has heard nothing from the origin for `CONTACT_WINDOW_MS`;
 * the test origin answers the other tests all the time, so each test here moves the clock past
 * that window (only `Date`: the probe's own timeout stays a real timer).
 */

/** One data point as a Workers Analytics Engine dataset receives it. */
type DataPoint = { indexes?: string[]; blobs?: string[]; doubles?: number[] };

let skipped = 0;

/** Moves `Date` past the contact window, further each call, so the next new key probes first. */
function idleOrigin(): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  skipped += CONTACT_WINDOW_MS + 60_000;
  vi.setSystemTime(Date.now() + skipped);
}

/**
 * A metrics dataset that keeps what it is given, and the JSON lines logged: the Worker's request
 * lines (`console.log`) and the coordinator's probe lines (`console.info` when the origin
 * answered, `console.warn` when it did not).
 */
function observed(): { points: DataPoint[]; vars: Vars; lines: () => Record<string, unknown>[] } {
  const points: DataPoint[] = [];
  const spies = [vi.spyOn(console, "log"), vi.spyOn(console, "info"), vi.spyOn(console, "warn")];
  const lines = () =>
    spies
      .flatMap((spy) => spy.mock.calls)
      .map(([line]) => (typeof line === "string" && line.startsWith("{") ? JSON.parse(line) : null))
      .filter((line): line is Record<string, unknown> => line !== null);
  const dataset = { writeDataPoint: (point: DataPoint) => void points.push(point) };
  return { points, vars: { METRICS: dataset }, lines };
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("the origin probe's path (IDEMPOTENCY_PROBE_PATH)", () => {
  it("sends the probe to the configured path: a path the origin resets proves it unreachable, so the key is released with 502 and nothing is forwarded", async () => {
    idleOrigin();
    const { points, vars, lines } = observed();
    const key = newKey();
    const first = await post("/v1/charges", key, {
      vars: { ...vars, IDEMPOTENCY_PROBE_PATH: "/reset" },
    });
    expect(first.status).toBe(502);
    expect((await problemOf(first)).code).toBe("origin-unreachable");
    expect(await originRequests(key)).toHaveLength(0);
    expect(lines()).toContainEqual(
      expect.objectContaining({ event: "origin-probe", result: "unreachable" }),
    );
    expect(lines()).toContainEqual(
      expect.objectContaining({
        event: "idempotency",
        outcome: "unreachable",
        probe: "unreachable",
      }),
    );
    expect(points).toContainEqual(
      expect.objectContaining({ indexes: ["probe"], blobs: ["probe", "unreachable"] }),
    );

    // The same origin, probed on a path it answers: reachable, and the released key is forwarded.
    const retry = await post("/v1/charges", key, {
      vars: { ...vars, IDEMPOTENCY_PROBE_PATH: "/status/204" },
    });
    expect(retry.status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
    expect(lines()).toContainEqual(
      expect.objectContaining({ event: "idempotency", outcome: "forwarded", probe: "reachable" }),
    );
    expect(points).toContainEqual(
      expect.objectContaining({ indexes: ["probe"], blobs: ["probe", "reachable"] }),
    );
  });

  it("counts a probe that outlives its timeout (3 s) as inconclusive, and forwards the request anyway", async () => {
    idleOrigin();
    const { points, vars, lines } = observed();
    const key = newKey();
    const response = await post("/v1/charges", key, {
      vars: { ...vars, IDEMPOTENCY_PROBE_PATH: "/hang" },
    });
    expect(response.status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
    const probe = points.find((point) => point.indexes?.[0] === "probe");
    expect(probe?.blobs).toEqual(["probe", "inconclusive"]);
    // Its duration is counted (read from `Date`, which this test holds still).
    expect(probe?.doubles).toHaveLength(1);
    expect(lines()).toContainEqual(
      expect.objectContaining({
        event: "idempotency",
        outcome: "forwarded",
        probe: "inconclusive",
      }),
    );
  });

  it("sends no probe while the origin answers, and counts none", async () => {
    const { points, vars, lines } = observed();
    const warm = await post("/v1/charges", newKey(), { vars });
    expect(warm.status).toBe(201);
    const response = await post("/v1/charges", newKey(), { vars });
    expect(response.status).toBe(201);
    expect(points.filter((point) => point.indexes?.[0] === "probe")).toHaveLength(0);
    expect(lines().filter((line) => line.event === "origin-probe")).toHaveLength(0);
  });
});

describe("the origin probe turned off (IDEMPOTENCY_PROBE_PATH=off)", () => {
  // A port nothing listens on: connections are refused.
  const refused = { ORIGIN_URL: "http://127.0.0.1:9", IDEMPOTENCY_PROBE_PATH: "off" };

  it("fails closed when a forward fails: 504 origin-outcome-unknown, kept for every retry, and no probe sent", async () => {
    idleOrigin();
    const { points, vars, lines } = observed();
    const key = newKey();
    const first = await post("/v1/charges", key, { vars: { ...vars, ...refused } });
    expect(first.status).toBe(504);
    expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
    // Stored: the retry meets the same answer, never a second forward.
    const retry = await post("/v1/charges", key, { vars: { ...vars, ...refused } });
    expect(retry.status).toBe(504);
    expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    expect(points.filter((point) => point.indexes?.[0] === "probe")).toHaveLength(0);
    expect(lines().filter((line) => line.event === "origin-probe")).toHaveLength(0);
  });

  it("answers 502 for the same refused origin with the probe on, the key released", async () => {
    idleOrigin();
    const key = newKey();
    const vars = { ORIGIN_URL: "http://127.0.0.1:9" };
    expect((await post("/v1/charges", key, { vars })).status).toBe(502);
    expect((await post("/v1/charges", key, { vars })).status).toBe(502);
  });
});
