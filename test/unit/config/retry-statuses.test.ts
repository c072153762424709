import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/config";
import { settingsFor } from "../../../src/config/routes";

const ORIGIN_URL = "https://origin.example.com";

function retryStatuses(value: string): readonly number[] {
  const result = parseConfig({ ORIGIN_URL, IDEMPOTENCY_RETRY_STATUSES: value });
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.config.retryStatuses;
}

function refusal(value: string): string {
  const result = parseConfig({ ORIGIN_URL, IDEMPOTENCY_RETRY_STATUSES: value });
  if (result.ok) throw new Error(`${value} was accepted`);
  expect(result.error.variable).toBe("IDEMPOTENCY_RETRY_STATUSES");
  return result.error.detail;
}

describe("IDEMPOTENCY_RETRY_STATUSES classes", () => {
  it("reads 4xx as every status from 400 to 499, and 5xx as 500 to 599", () => {
    const statuses = retryStatuses("4xx,5xx");
    expect(statuses).toHaveLength(200);
    expect(statuses).toContain(400);
    expect(statuses).toContain(499);
    expect(statuses).toContain(500);
    expect(statuses).toContain(599);
    expect(statuses).not.toContain(399);
  });

  it("mixes classes and single statuses, keeping the configured order", () => {
    expect(retryStatuses("503, 4xx").slice(0, 3)).toEqual([503, 400, 401]);
    expect(retryStatuses("503, 4xx")).toHaveLength(101);
  });

  it("accepts the class written in capitals", () => {
    expect(retryStatuses("4XX")).toEqual(retryStatuses("4xx"));
  });

  it.each(["1xx", "2xx", "3xx"])(
    "refuses the class %s: a 1xx–3xx answer is final and must never be forwarded again",
    (value) => {
      expect(refusal(value)).toMatch(/4xx or 5xx/);
    },
  );

  it.each(["4xx,429", "5xx,5XX", "503,5xx"])(
    "refuses %s: a status named twice (a class holds all of its own)",
    (value) => {
      expect(refusal(value)).toMatch(/repeat/);
    },
  );

  it.each(["6xx", "4x", "4xxx", "xx", "4 xx"])("refuses the malformed class %j", (value) => {
    refusal(value);
  });

  it("applies per route: a route may release a whole class while the rest keep the default", () => {
    const result = parseConfig({
      ORIGIN_URL,
      IDEMPOTENCY_ROUTES: JSON.stringify({
        "/payments": { IDEMPOTENCY_RETRY_STATUSES: "4xx,5xx" },
      }),
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    expect(settingsFor(result.config, "/payments").retryStatuses).toContain(422);
    expect(settingsFor(result.config, "/payments").retryStatuses).toContain(502);
    expect(settingsFor(result.config, "/refunds").retryStatuses).toEqual([429, 503]);
  });
});
