import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUZZ_ADMIN_TOKEN, startFuzzTarget, type FuzzTarget } from "../../harness/fuzz/config.ts";
import { exchange, serialize, type RawAnswer } from "../../harness/fuzz/raw-http.ts";
import { describeFailure, runFuzz } from "../../harness/fuzz/run.ts";

/**
 * Bad input over real HTTP, against `wrangler dev` (docs/development.md, "Fuzzing"): the examples the fuzzing
 * findings were fixed with, written out, and a short seeded run of the fuzzer itself
 * (`harness/fuzz/`, the same generators and invariants as `npm run fuzz`). Requests go out as
 * raw bytes over `node:net`, where `fetch` would refuse them (a GET with a body) or re-encode
 * them (header bytes that are not UTF-8).
 */

/** The seeded run: `FUZZ_SEED` and `FUZZ_CASES` override them. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const CASES = Number(process.env.FUZZ_CASES ?? 300);

let target: FuzzTarget;

beforeAll(async () => {
  target = await startFuzzTarget();
});

afterAll(async () => {
  await target?.stop();
});

/** Sends `headers` and `body` as written, and returns the final answer. */
async function raw(
  method: string,
  path: string,
  headers: [string, string | Uint8Array][],
  body = "",
): Promise<RawAnswer> {
  const bytes = serialize({
    method,
    target: path,
    headers: [
      ["Host", `127.0.0.1:${target.gateway.port}`],
      ["Connection", "close"],
      ...headers,
      ["Content-Length", String(Buffer.byteLength(body))],
    ],
    body: Buffer.from(body),
  });
  const result = await exchange(target.gateway.port, bytes, { timeoutMs: 15_000, method });
  const answer = result.answers.find((a) => a.status >= 200);
  if (answer === undefined) throw new Error(`no answer: ${JSON.stringify(result)}`);
  return answer;
}

function field(answer: RawAnswer, name: string): string | undefined {
  return answer.headers.find(([n]) => n === name)?.[1];
}

function problemCode(answer: RawAnswer): unknown {
  expect(field(answer, "content-type")).toBe("application/problem+json");
  return (JSON.parse(Buffer.from(answer.body).toString("utf8")) as { code?: unknown }).code;
}

describe("bad input over raw HTTP (wrangler dev)", () => {
  it.each(["GET", "HEAD"])(
    "forwards a %s that carries a body, on an uncovered route, without the body: never a 500",
    async (method) => {
      const marker = randomUUID();
      const answer = await raw(method, "/v1/orders", [["X-Marker", marker]], "{}");
      expect(answer.status).toBe(201);
      const seen = target.origin.requests(marker);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ method, bodyBase64: "" });
    },
  );

  it("refuses Authorization: Bearer \\xff, then \\xfe, with 400 missing-scope: the second caller never gets the first one's answer", async () => {
    const key = randomUUID();
    const asCaller = (byte: number) =>
      raw(
        "POST",
        "/v1/charges",
        [
          ["Authorization", Uint8Array.from([...Buffer.from("Bearer "), byte])],
          ["Idempotency-Key", key],
          ["Content-Type", "application/json"],
        ],
        '{"amount":1000}',
      );
    for (const byte of [0xff, 0xfe]) {
      const answer = await asCaller(byte);
      expect(answer.status).toBe(400);
      expect(problemCode(answer)).toBe("missing-scope");
      expect(field(answer, "idempotent-replayed")).toBeUndefined();
    }
    expect(target.origin.requests(key)).toHaveLength(0);
  });

  it("refuses to resolve a 205 with a body, and replays a 205 resolved without one on every retry: never a 500", async () => {
    const key = randomUUID();
    const credential = "Bearer sk_test_fuzz_205";
    const hang = () =>
      raw(
        "POST",
        "/hang",
        [
          ["Authorization", credential],
          ["Idempotency-Key", key],
        ],
        "{}",
      );
    // The route's origin timeout is 100 ms, and `/hang` never answers: the outcome is unknown.
    expect(problemCode(await hang())).toBe("origin-outcome-unknown");
    const resolve = (response: Record<string, unknown>) =>
      fetch(`${target.gateway.url}/__idempotency/keys/resolve`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${FUZZ_ADMIN_TOKEN}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ key, scope: { authorization: credential }, response }),
      });
    const withBody = await resolve({ status: 205, body: "x" });
    expect(withBody.status).toBe(400);
    expect(((await withBody.json()) as { code: string }).code).toBe("invalid-admin-request");
    expect((await resolve({ status: 205, headers: { "x-reset": "yes" } })).status).toBe(200);
    for (let retry = 0; retry < 2; retry++) {
      const answer = await hang();
      expect(answer.status).toBe(205);
      expect(field(answer, "idempotent-replayed")).toBe("true");
      expect(field(answer, "x-reset")).toBe("yes");
      expect(answer.body.byteLength).toBe(0);
    }
    expect(target.origin.requests(key)).toHaveLength(1);
  });
});

describe("the fuzzer (harness/fuzz), a short seeded run", () => {
  it(`keeps every invariant over ${CASES} cases of seed ${SEED}`, async () => {
    const report = await runFuzz(
      { port: target.gateway.port, origin: target.origin, timeoutMs: 15_000 },
      { seed: SEED, cases: CASES },
    );
    expect(report.cases).toBe(CASES);
    expect(report.failures.map((failure) => describeFailure(SEED, failure))).toEqual([]);
    // The run reached past the refusals: keys were stored, replayed and resolved.
    expect(report.tally.get("resend replayed (2xx)") ?? 0).toBeGreaterThan(10);
  }, 180_000);
});
