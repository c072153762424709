import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { callOrigin } from "../../../src/coordinator/origin-call";
import {
  InflightBudget,
  type Admission,
  type AnswerBudget,
} from "../../../src/coordinator/inflight-budget";
import type { OriginRequest } from "../../../src/core/origin-request";
import { patternBytes } from "../../../harness/test-origin";

/**
 * The origin call under an in-flight budget, inside workerd against the real loopback origin
 * (`test/support/global-setup.ts`). Time moves only with fake timers: the origin's deadline is a
 * timer, and the waits for memory are held by a real budget whose pool another admission fills.
 */

const ORIGIN = env.ORIGIN_URL;
const TIMEOUT_MS = 1_000;
const RESERVE = 64 * 1024;
const MAX_RESPONSE = 1024 * 1024;
/** An answer larger than the reserve, well under the cap. */
const LARGE = 200_000;

afterEach(() => {
  vi.useRealTimers();
});

function request(path: string): OriginRequest {
  return {
    url: `${ORIGIN}${path}`,
    method: "POST",
    headers: [["content-type", "application/json"]],
    body: new TextEncoder().encode('{"amount":1000}'),
  };
}

/** A real budget sized like production's, with its reserve set to `reserveBytes`. */
function budgetOf(reserveBytes = RESERVE) {
  return new InflightBudget({
    answerReserveBytes: reserveBytes,
    largeAnswerPoolBytes: MAX_RESPONSE,
    largestAnswerBytes: MAX_RESPONSE,
  });
}

function admitted(budget: InflightBudget): Admission {
  const admission = budget.admit(0);
  if (admission === null) throw new Error("expected an admission");
  return admission;
}

/**
 * A call's admission, watched: every `growAnswer` is recorded, and `asked` resolves with the
 * first one, so that a test acts once the call waits for memory.
 */
function watched(admission: Admission) {
  const asks: number[] = [];
  const first = Promise.withResolvers<number>();
  const answerBudget: AnswerBudget = {
    reserveBytes: admission.reserveBytes,
    growAnswer: (bytes) => {
      asks.push(bytes);
      first.resolve(bytes);
      return admission.growAnswer(bytes);
    },
  };
  return { answerBudget, asks, asked: first.promise };
}

/** An admission holding the whole large-answer pool: other answers wait until it is released. */
async function poolFiller(budget: InflightBudget): Promise<Admission> {
  const filler = admitted(budget);
  await filler.growAnswer(MAX_RESPONSE);
  return filler;
}

async function originArrivals(gate: string): Promise<void> {
  await (await fetch(`${ORIGIN}/__control/arrivals?gate=${gate}&count=1`)).arrayBuffer();
}

async function releaseGate(gate: string): Promise<void> {
  await (await fetch(`${ORIGIN}/__control/release?gate=${gate}`, { method: "POST" })).arrayBuffer();
}

describe("the origin call under the in-flight budget", () => {
  it("keeps an answer that fits the reserve without asking for memory", async () => {
    const { answerBudget, asks } = watched(admitted(budgetOf()));
    const result = await callOrigin(request("/bytes/1000"), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget,
    });
    expect(result.kind === "answered" && result.response.body).toEqual(patternBytes(1000));
    expect(asks).toEqual([]);
  });

  it("asks for the rest up to the cap once an undeclared answer outgrows the reserve, and keeps the whole answer", async () => {
    // The test origin sends `/bytes/<n>` chunked: no Content-Length.
    const budget = budgetOf();
    const { answerBudget, asks } = watched(admitted(budget));
    const result = await callOrigin(request(`/bytes/${LARGE}`), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget,
    });
    expect(result.kind === "answered" && result.response.body).toEqual(patternBytes(LARGE));
    expect(asks).toEqual([MAX_RESPONSE - RESERVE]);
    expect(budget.usage.largeBytes).toBe(MAX_RESPONSE - RESERVE);
  });

  it("asks for exactly the declared length beyond the reserve, and keeps the whole answer", async () => {
    const budget = budgetOf();
    const { answerBudget, asks } = watched(admitted(budget));
    // An origin that declares its length, as most do for a buffered body.
    const fetchImpl = async () =>
      new Response(patternBytes(LARGE), { headers: { "content-length": String(LARGE) } });
    const result = await callOrigin(request("/"), {
      fetch: fetchImpl as typeof fetch,
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget,
    });
    expect(result.kind === "answered" && result.response.body).toEqual(patternBytes(LARGE));
    expect(asks).toEqual([LARGE - RESERVE]);
    expect(budget.usage.largeBytes).toBe(LARGE - RESERVE);
  });

  it("does NOT run the origin's deadline while it waits for memory: the answer is kept", async () => {
    vi.useFakeTimers();
    const budget = budgetOf();
    const filler = await poolFiller(budget);
    const { answerBudget, asked } = watched(admitted(budget));
    const result = callOrigin(request(`/bytes/${LARGE}`), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget,
    });
    expect(await asked).toBe(MAX_RESPONSE - RESERVE);
    expect(budget.usage.waiting).toBe(1);
    // Ten deadlines pass while the pool is full: the origin has answered, the wait is ours.
    await vi.advanceTimersByTimeAsync(10 * TIMEOUT_MS);
    filler.release();
    const settled = await result;
    expect(settled.kind === "answered" && settled.response.body).toEqual(patternBytes(LARGE));
  });

  it("runs the deadline again once memory is granted, with only the time that was left", async () => {
    vi.useFakeTimers();
    // A reserve smaller than the first bytes of `/stall-body`, which then sends nothing more.
    const budget = budgetOf(4);
    const filler = await poolFiller(budget);
    const { answerBudget, asked } = watched(admitted(budget));
    const gate = crypto.randomUUID();
    const result = callOrigin(request(`/gate/${gate}/stall-body`), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget,
    });
    let done = false;
    void result.then(() => (done = true));
    await originArrivals(gate);
    // 400 ms of the deadline pass while the request is at the origin.
    await vi.advanceTimersByTimeAsync(400);
    await releaseGate(gate);
    expect(await asked).toBe(MAX_RESPONSE - 4);
    await vi.advanceTimersByTimeAsync(10 * TIMEOUT_MS);
    filler.release();
    await vi.advanceTimersByTimeAsync(599);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toMatchObject({ kind: "unknown", cause: "timeout" });
  });

  it("answers too-large for an answer declared over maxResponseBytes, without asking for memory", async () => {
    // `/truncate` declares 100 bytes.
    const { answerBudget, asks } = watched(admitted(budgetOf(50)));
    const result = await callOrigin(request("/truncate"), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: 99,
      answerBudget,
    });
    expect(result).toMatchObject({ kind: "unknown", cause: "too-large" });
    expect(asks).toEqual([]);
  });

  it("answers too-large for an undeclared answer over maxResponseBytes, having asked for no more than the cap", async () => {
    const { answerBudget, asks } = watched(admitted(budgetOf()));
    const result = await callOrigin(request(`/bytes/${LARGE}`), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: LARGE - 1,
      answerBudget,
    });
    expect(result).toMatchObject({ kind: "unknown", cause: "too-large" });
    expect(asks).toEqual([LARGE - 1 - RESERVE]);
  });

  it("answers connection when the origin breaks off after memory was granted", async () => {
    // `/truncate` declares 100 bytes, sends 10 and drops the connection.
    const { answerBudget, asks } = watched(admitted(budgetOf(50)));
    const result = await callOrigin(request("/truncate"), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget,
    });
    expect(result).toMatchObject({ kind: "unknown", cause: "connection" });
    expect(asks).toEqual([50]);
  });

  it("throws the budget's refusal instead of classifying it as the origin's failure", async () => {
    const admission = admitted(budgetOf());
    admission.release();
    const call = callOrigin(request(`/bytes/${LARGE}`), {
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE,
      answerBudget: admission,
    });
    await expect(call).rejects.toThrow(/after release/);
  });
});

describe("a request the runtime cannot build", () => {
  it("is unsent, not unknown, and never reaches the origin: a GET with a body", async () => {
    let called = false;
    const result = await callOrigin(
      { ...request("/"), method: "GET" },
      {
        fetch: (async () => {
          called = true;
          return new Response("");
        }) as typeof fetch,
        timeoutMs: TIMEOUT_MS,
        maxResponseBytes: MAX_RESPONSE,
      },
    );
    expect(result.kind).toBe("unsent");
    expect(called).toBe(false);
  });
});
