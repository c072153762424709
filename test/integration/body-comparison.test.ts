import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { newKey, originRequests, post, problemOf, type Vars } from "./harness";

/**
 * IDEMPOTENCY_FINGERPRINT (docs/configuration.md, "Comparing bodies"): under `json`, a retry whose JSON body was
 * re-serialized (member order, whitespace, number spelling) or whose form pairs were reordered is
 * the same request; under `bytes` (the default) it is a different one.
 */

const JSON_MODE: Vars = { IDEMPOTENCY_FINGERPRINT: "json" };
const BYTES_MODE: Vars = { IDEMPOTENCY_FINGERPRINT: "bytes" };
const FORM = { "content-type": "application/x-www-form-urlencoded" };

const PAYMENT = '{"amount":1000,"currency":"usd","metadata":{"order":"A-1","tags":["x","y"]}}';
const PAYMENT_RESERIALIZED =
  '{\n  "metadata": { "tags": ["x", "y"], "order": "A-1" },\n  "currency": "usd",\n  "amount": 1.0E3\n}\n';

describe("a JSON body re-serialized between retries", () => {
  it("is replayed under json: one origin call", async () => {
    const key = newKey();
    const first = await post("/v1/charges", key, { vars: JSON_MODE, body: PAYMENT });
    const retry = await post("/v1/charges", key, {
      vars: JSON_MODE,
      body: PAYMENT_RESERIALIZED,
    });
    expect(retry.status).toBe(first.status);
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await retry.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("is 422 idempotency-key-reused under bytes, and is NOT forwarded", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: BYTES_MODE, body: PAYMENT });
    const retry = await post("/v1/charges", key, { vars: BYTES_MODE, body: PAYMENT_RESERIALIZED });
    expect(retry.status).toBe(422);
    expect((await problemOf(retry)).code).toBe("idempotency-key-reused");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("still differs under json when a value differs: 422, not forwarded", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: JSON_MODE, body: PAYMENT });
    const other = await post("/v1/charges", key, {
      vars: JSON_MODE,
      body: PAYMENT.replace("1000", "1001"),
    });
    expect(other.status).toBe(422);
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("reaches the origin as the client sent it, not in canonical form", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: JSON_MODE, body: PAYMENT_RESERIALIZED });
    const seen = await originRequests(key);
    expect(Buffer.from(seen[0]?.bodyBase64 ?? "", "base64").toString()).toBe(PAYMENT_RESERIALIZED);
  });
});

describe("form pairs reordered between retries", () => {
  it("are replayed under json, but a repeated name's values reordered are 422", async () => {
    const key = newKey();
    const vars = JSON_MODE;
    await post("/v1/charges", key, {
      vars,
      headers: FORM,
      body: "amount=1000&currency=usd&tag=a&tag=b",
    });
    const reordered = await post("/v1/charges", key, {
      vars,
      headers: FORM,
      body: "tag=a&currency=usd&tag=b&amount=1000",
    });
    expect(reordered.headers.get(REPLAYED_HEADER)).toBe("true");
    const swapped = await post("/v1/charges", key, {
      vars,
      headers: FORM,
      body: "amount=1000&currency=usd&tag=b&tag=a",
    });
    expect(swapped.status).toBe(422);
    expect(await originRequests(key)).toHaveLength(1);
  });
});

describe("a JSON body the json fingerprint cannot read", () => {
  it.each([
    ["duplicate member names", '{"amount":1,"amount":1000}'],
    ["a syntax error", '{"amount":1000'],
  ])(
    "with %s is 400 malformed-body, forwards nothing, and does NOT use up the key",
    async (_, body) => {
      const key = newKey();
      const refused = await post("/v1/charges", key, { vars: JSON_MODE, body });
      expect(refused.status).toBe(400);
      const problem = await problemOf(refused);
      expect(problem.code).toBe("malformed-body");
      expect(String(problem.detail)).toContain("the key was not used");
      expect(await originRequests(key)).toHaveLength(0);
      const correct = await post("/v1/charges", key, { vars: JSON_MODE, body: PAYMENT });
      expect(correct.status).toBe(201);
      expect(await originRequests(key)).toHaveLength(1);
    },
  );

  it("is forwarded under bytes, which never parses the body", async () => {
    const key = newKey();
    const response = await post("/v1/charges", key, { vars: BYTES_MODE, body: '{"a":1,"a":2}' });
    expect(response.status).toBe(201);
  });
});

describe("bodies the json fingerprint compares by bytes", () => {
  it("takes an empty body with a JSON content type as no body: forwarded, then replayed", async () => {
    const key = newKey();
    const first = await post("/v1/orders/o_1/capture", key, { vars: JSON_MODE, body: "" });
    expect(first.status).toBe(201);
    const retry = await post("/v1/orders/o_1/capture", key, { vars: JSON_MODE, body: null });
    expect(retry.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("does NOT equate two integers that one double would hold: 422", async () => {
    const key = newKey();
    await post("/v1/charges", key, { vars: JSON_MODE, body: '{"id":12345678901234567890}' });
    const other = await post("/v1/charges", key, {
      vars: JSON_MODE,
      body: '{"id":12345678901234567891}',
    });
    expect(other.status).toBe(422);
    expect(await originRequests(key)).toHaveLength(1);
  });
});
