import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { newKey, originRequests, post, problemOf } from "./harness";

describe("origin answers", () => {
  it.each([429, 503])(
    "releases the key when the origin answers %i, so a retry is forwarded again",
    async (status) => {
      const key = newKey();
      const first = await post(`/status/${status}`, key);
      expect(first.status).toBe(status);
      const retry = await post(`/status/${status}`, key);
      expect(retry.status).toBe(status);
      expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
      expect(await originRequests(key)).toHaveLength(2);
    },
  );

  it.each([200, 302, 400, 404, 500, 502, 504])(
    "stores an origin %i and replays it without forwarding again",
    async (status) => {
      const key = newKey();
      const first = await post(`/status/${status}`, key);
      expect(first.status).toBe(status);
      const firstBody = await first.text();
      const retry = await post(`/status/${status}`, key);
      expect(retry.status).toBe(status);
      expect(await retry.text()).toBe(firstBody);
      expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
      expect(await originRequests(key)).toHaveLength(1);
    },
  );

  it("honours IDEMPOTENCY_RETRY_STATUSES: a configured status releases the key", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_RETRY_STATUSES: "500" };
    await post("/status/500", key, { vars });
    await post("/status/500", key, { vars });
    expect(await originRequests(key)).toHaveLength(2);
  });

  it("passes a redirect to the client instead of following it", async () => {
    const response = await post("/redirect", newKey());
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("https://example.com/elsewhere");
  });

  it("replays every Set-Cookie field of the stored answer", async () => {
    const key = newKey();
    await post("/cookies", key);
    const retry = await post("/cookies", key);
    expect(retry.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    expect(retry.headers.get("x-origin")).toBe("cookies");
  });
});

describe("origin failures", () => {
  it("answers 504 origin-outcome-unknown when the origin is slower than the timeout, and every retry gets the same answer without a second forward", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "100" };
    const first = await post("/hang", key, { vars });
    expect(first.status).toBe(504);
    expect((await problemOf(first)).code).toBe("origin-outcome-unknown");
    const retry = await post("/hang", key, { vars });
    expect(retry.status).toBe(504);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers 504 origin-outcome-unknown when the origin sends its headers and then stalls its body past the timeout, and never forwards a retry", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "200" };
    // The origin holds the connection open for STALL_LIMIT_MS: an answer before that is the
    // gateway's own deadline, which must cover the body and not only the headers.
    const first = await post("/stall-body", key, { vars });
    expect(first.status).toBe(504);
    const problem = await problemOf(first);
    expect(problem.code).toBe("origin-outcome-unknown");
    expect(String(problem.detail)).toContain("within 200 ms");
    const retry = await post("/stall-body", key, { vars });
    expect(retry.status).toBe(504);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect((await problemOf(retry)).code).toBe("origin-outcome-unknown");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it.each(["/reset", "/truncate"])(
    "fails closed with 504 when the connection breaks after the request was sent (%s)",
    async (path) => {
      const key = newKey();
      const first = await post(path, key);
      expect(first.status).toBe(504);
      const retry = await post(path, key);
      expect(retry.status).toBe(504);
      expect(await originRequests(key)).toHaveLength(1);
    },
  );

  it("fails closed when the origin's response is larger than the replay limit", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_MAX_RESPONSE_BYTES: "1000" };
    const first = await post("/bytes/5000", key, { vars });
    expect(first.status).toBe(504);
    expect(String((await problemOf(first)).detail)).toContain("1000 bytes");
    expect((await post("/bytes/5000", key, { vars })).status).toBe(504);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("an unreachable origin", () => {
  // A port nothing listens on: connections are refused.
  const vars = { ORIGIN_URL: "http://127.0.0.1:9" };

  it("proves from the first request that nothing reached it, and releases every key with 502", async () => {
    // workerd cannot tell a refused connection from one lost after sending (docs/adr/0005), so
    // with no recent answer from the origin, the coordinator probes before sending.
    const first = await post("/v1/charges", newKey(), { vars });
    expect(first.status).toBe(502);
    expect((await problemOf(first)).code).toBe("origin-unreachable");
    const key = newKey();
    const next = await post("/v1/charges", key, { vars });
    expect(next.status).toBe(502);
    expect((await problemOf(next)).code).toBe("origin-unreachable");
    // Released: the same key is tried again (and again proven unreachable), not replayed.
    const retry = await post("/v1/charges", key, { vars });
    expect(retry.status).toBe(502);
    expect(retry.headers.get(REPLAYED_HEADER)).toBeNull();
  });

  it("treats a host that does not resolve the same way: 502 with the key released, from the first request", async () => {
    const dns = { ORIGIN_URL: "http://origin.invalid", IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "5000" };
    expect((await post("/v1/charges", newKey(), { vars: dns })).status).toBe(502);
    const key = newKey();
    const next = await post("/v1/charges", key, { vars: dns });
    expect(next.status).toBe(502);
    expect((await post("/v1/charges", key, { vars: dns })).status).toBe(502);
  });
});
