import { afterEach, describe, expect, it, vi } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  EDGE_OFF,
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
} from "./harness";

/**
 * What SDKs made by the Stainless generator (Lithic's, OpenAI's, Anthropic's…) do on a retry
 * (docs/providers.md, "Generated SDKs (Stainless)"): the same `Idempotency-Key` with headers that
 * change per attempt (`X-Stainless-Retry-Count`, `X-Stainless-Timeout`), and a sleep of exactly
 * what `Retry-After` says after a `409`.
 */

afterEach(() => {
  vi.useRealTimers();
});

/** The headers a Stainless SDK sends with attempt `retryCount` (0 for the first). */
function attempt(retryCount: number, timeoutSeconds: number): Record<string, string> {
  return {
    "x-stainless-retry-count": String(retryCount),
    "x-stainless-timeout": String(timeoutSeconds),
    "x-stainless-lang": "js",
    "user-agent": "Lithic/JS 0.145.0",
  };
}

describe("a generated SDK's retry", () => {
  it("is recognised whatever its per-attempt headers say: replayed, one origin call", async () => {
    const key = newKey();
    const first = await post("/v1/cards", key, { headers: attempt(0, 60), vars: EDGE_OFF });
    const retry = await post("/v1/cards", key, { headers: attempt(1, 59), vars: EDGE_OFF });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    const seen = await originRequests(key);
    expect(seen).toHaveLength(1);
    // The origin got the first attempt's own header, as sent.
    expect(seen[0]?.headers["x-stainless-retry-count"]).toBe("0");
  });
});

describe("the 409 request-in-progress a generated SDK sleeps on", () => {
  it.each([
    ["at once (IDEMPOTENCY_CONCURRENCY=reject)", { IDEMPOTENCY_CONCURRENCY: "reject" }],
    ["after IDEMPOTENCY_WAIT_MS", { IDEMPOTENCY_WAIT_MS: "20" }],
  ])(
    "given %s, says Retry-After until the first call's outcome is due, not a whole origin timeout",
    async (_, policy) => {
      const key = newKey();
      const gate = newKey();
      const vars = { ...EDGE_OFF, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "30000", ...policy };
      const first = post(`/gate/${gate}/v1/cards`, key, { headers: attempt(0, 60), vars });
      await originArrivals(gate, 1);
      // 20 of the first call's 30 seconds have passed when the SDK's retry arrives.
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() + 20_000);
      const retry = await post(`/gate/${gate}/v1/cards`, key, { headers: attempt(1, 60), vars });
      expect(retry.status).toBe(409);
      expect((await problemOf(retry)).code).toBe("request-in-progress");
      const seconds = Number(retry.headers.get("retry-after"));
      expect(seconds).toBeGreaterThanOrEqual(9);
      expect(seconds).toBeLessThanOrEqual(10);
      // Decided: no `retry-after-ms` (docs/providers.md): Stainless SDKs read Retry-After as well.
      expect(retry.headers.get("retry-after-ms")).toBeNull();
      vi.useRealTimers();
      await releaseGate(gate);
      expect((await first).status).toBe(201);
      const after = await post(`/gate/${gate}/v1/cards`, key, { headers: attempt(2, 60), vars });
      expect(after.headers.get(REPLAYED_HEADER)).toBe("true");
      expect(await originRequests(key)).toHaveLength(1);
    },
  );
});
