import {
  ApiError,
  GoCardlessInternalError,
  InvalidApiUsageError,
  InvalidStateError,
} from "gocardless-nodejs/errors";
import { describe, expect, it } from "vitest";
import {
  newKey,
  originArrivals,
  originRequests,
  post,
  problemOf,
  releaseGate,
  type Vars,
} from "./harness";

/**
 * Fronting GoCardless (docs/providers.md, "GoCardless") through the Worker: the gateway's
 * refusals in the `gocardless` dialect, read by the official SDK's own classifier
 * (`ApiError.buildFromResponse` of `gocardless-nodejs`), which picks the class the application
 * catches.
 */

const GOCARDLESS: Vars = {
  IDEMPOTENCY_METHODS: "POST",
  IDEMPOTENCY_ERROR_DIALECT: "gocardless",
  IDEMPOTENCY_RETRY_STATUSES: "429,5xx",
};

const PAYMENT = '{"payments":{"amount":1000,"currency":"GBP","links":{"mandate":"MD000123"}}}';

/** What the SDK raises for a gateway answer. */
async function raised(response: Response) {
  const body = await problemOf(response);
  return ApiError.buildFromResponse({ statusCode: response.status, body, headers: {} });
}

describe("a GoCardless-like API (IDEMPOTENCY_ERROR_DIALECT=gocardless)", () => {
  it("answers a key reused with other parameters 422, which the SDK raises as InvalidStateError, and forwards nothing", async () => {
    const key = newKey();
    expect((await post("/payments", key, { body: PAYMENT, vars: GOCARDLESS })).status).toBe(201);
    const reused = await post("/payments", key, {
      body: PAYMENT.replace("1000", "2000"),
      vars: GOCARDLESS,
    });
    expect(reused.status).toBe(422);
    const error = await raised(reused);
    if (!(error instanceof InvalidStateError)) throw new Error(`raised ${String(error)}`);
    expect(error.errors).toEqual([{ reason: "idempotency_key_reused", message: error.message }]);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers a duplicate in flight 409, which the SDK raises as GoCardlessInternalError, and forwards it never", async () => {
    const key = newKey();
    const gate = `gocardless-${key}`;
    const vars = { ...GOCARDLESS, IDEMPOTENCY_CONCURRENCY: "reject" };
    const first = post(`/gate/${gate}/payments`, key, { body: PAYMENT, vars });
    await originArrivals(gate, 1);
    const duplicate = await post(`/gate/${gate}/payments`, key, { body: PAYMENT, vars });
    expect(duplicate.status).toBe(409);
    expect(await raised(duplicate)).toBeInstanceOf(GoCardlessInternalError);
    await releaseGate(gate);
    expect((await first).status).toBe(201);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("answers a key of 256 characters 400, which the SDK raises as InvalidApiUsageError", async () => {
    const response = await post("/payments", "k".repeat(256), { body: PAYMENT, vars: GOCARDLESS });
    expect(response.status).toBe(400);
    expect(await raised(response)).toBeInstanceOf(InvalidApiUsageError);
  });
});
