import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../../src/core/header-names";
import { originBinding } from "../../../src/env";
import { gateway, newKey, originRequests, post, problemOf } from "../harness";

/**
 * An origin that is a Worker, reached through the `ORIGIN` service binding (README,
 * "Deploying"). This project's Worker is deployed with the binding to a second, real Worker
 * (`test/support/origin-worker.js`) that hands requests on to the loopback origin: the rows of the
 * outcome table hold exactly as they do for a URL origin.
 */

/** The deployment fronting a Worker: the binding, and no ORIGIN_URL at all. */
const BOUND = { ORIGIN_URL: undefined };

/** The header the origin Worker puts on every answer it serves. */
const SERVED_BY = "x-served-by";

describe("an origin reached through the ORIGIN service binding", () => {
  it("is called instead of a URL, with the path and query as sent, and its answer is stored and replayed", async () => {
    const key = newKey();
    const first = await post("/v1/charges?expand=customer", key, { vars: BOUND });
    expect(first.status).toBe(201);
    expect(first.headers.get(SERVED_BY)).toBe("origin-worker");
    const body = await first.text();

    const retry = await post("/v1/charges?expand=customer", key, { vars: BOUND });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(body);

    const seen = await originRequests(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["x-origin-worker-saw"]).toBe(
      "https://api.example.com/v1/charges?expand=customer",
    );
  });

  it("keeps ORIGIN_URL's base when both are set, and still calls the Worker through the binding", async () => {
    const key = newKey();
    const response = await post("/v1/charges", key, {
      vars: { ORIGIN_URL: "https://payments.internal/base" },
    });
    expect(response.headers.get(SERVED_BY)).toBe("origin-worker");
    const seen = await originRequests(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.path).toBe("/base/v1/charges");
    expect(seen[0]?.headers["x-origin-worker-saw"]).toBe(
      "https://payments.internal/base/v1/charges",
    );
  });

  it("does NOT probe the origin Worker: one that throws on HEAD / still gets the first request", async () => {
    // With no contact yet, a URL origin would be probed first (HEAD /); this Worker throws on it,
    // which a probe would read as "unreachable" and answer 502 without forwarding.
    const key = newKey();
    const response = await post("/v1/charges", key, { vars: BOUND });
    expect(response.status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it.each([429, 503])(
    "releases the key when the origin Worker answers the retry status %i, so a retry is forwarded again",
    async (status) => {
      const key = newKey();
      const first = await post(`/status/${status}`, key, { vars: BOUND });
      expect(first.status).toBe(status);
      const retry = await post(`/status/${status}`, key, { vars: BOUND });
      expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
      expect(await originRequests(key)).toHaveLength(2);
    },
  );

  it("releases a whole class of statuses (4xx) through the binding, and stores a 5xx", async () => {
    const vars = { ...BOUND, IDEMPOTENCY_RETRY_STATUSES: "4xx" };
    const declined = newKey();
    await post("/status/402", declined, { vars });
    await post("/status/402", declined, { vars });
    expect(await originRequests(declined)).toHaveLength(2);

    const failed = newKey();
    await post("/status/500", failed, { vars });
    const replay = await post("/status/500", failed, { vars });
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(failed)).toHaveLength(1);
  });

  it("answers 504 origin-outcome-unknown when the origin Worker does not answer in time, and keeps answering it", async () => {
    const key = newKey();
    const vars = { ...BOUND, IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "300" };
    const first = await post("/hang", key, { vars });
    expect(first.status).toBe(504);
    expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
    const retry = await post("/hang", key, { vars });
    expect(retry.status).toBe(504);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("fails closed when the origin Worker throws after acting: 504, stored, never forwarded again", async () => {
    const key = newKey();
    const first = await post("/v1/charges/throw", key, { vars: BOUND });
    expect(first.status).toBe(504);
    const problem = await problemOf(first);
    expect(problem.code).toBe("origin-outcome-unknown");
    expect(String(problem.detail)).toContain("origin Worker");
    const retry = await post("/v1/charges/throw", key, { vars: BOUND });
    expect(retry.status).toBe(504);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    // The charge was made: a second forward would have made another one.
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("passes uncovered requests through the binding untouched, storing nothing", async () => {
    const marker = newKey();
    const init = { method: "GET", headers: { "x-marker": marker } };
    const first = await gateway("/v1/charges/ch_1", init, BOUND);
    expect(first.status).toBe(201);
    expect(first.headers.get(SERVED_BY)).toBe("origin-worker");
    await gateway("/v1/charges/ch_1", init, BOUND);
    expect(await originRequests(marker)).toHaveLength(2);
  });

  it("serves health with no ORIGIN_URL: the binding is the origin", async () => {
    const response = await gateway("/__idempotency/health", {}, BOUND);
    expect(response.status).toBe(200);
  });

  it("is the binding this project deploys (a real Worker, not a stub)", async () => {
    // The second Worker answers on its own, without the gateway in between.
    const binding = originBinding(env);
    if (binding === undefined) throw new Error("this project deploys an ORIGIN service binding");
    const response = await binding.fetch("https://payments.internal/v1/ping", {
      headers: { "x-marker": newKey() },
    });
    expect(response.headers.get(SERVED_BY)).toBe("origin-worker");
    await response.arrayBuffer();
  });
});
