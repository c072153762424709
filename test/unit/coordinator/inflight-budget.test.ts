import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_BODY_LIMIT } from "../../../src/config/settings";
import {
  ANSWER_RESERVE_BYTES,
  INFLIGHT_BUDGET_BYTES,
  InflightBudget,
  LARGE_ANSWER_POOL_BYTES,
  type Admission,
} from "../../../src/coordinator/inflight-budget";

/** Small sizes, so that each case is easy to count: 1,000 for calls, 500 for large answers. */
const LIMITS = {
  budgetBytes: 1_000,
  answerReserveBytes: 100,
  largeAnswerPoolBytes: 500,
  largestRequestBytes: 800,
  largestAnswerBytes: 500,
};

function budget() {
  return new InflightBudget(LIMITS);
}

function admitted(b: InflightBudget, requestBytes = 0): Admission {
  const admission = b.admit(requestBytes);
  if (admission === null) throw new Error("expected an admission");
  return admission;
}

/**
 * Whether a promise settles without anything else happening: the budget grants synchronously,
 * so a grant reaches `promise` within a few microtask turns, and no timer is involved.
 */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  for (let turn = 0; turn < 10; turn++) await Promise.resolve();
  return done;
}

describe("the in-flight budget", () => {
  it("is sized for the largest request and answer the settings allow", () => {
    expect(INFLIGHT_BUDGET_BYTES).toBeGreaterThanOrEqual(MAX_BODY_LIMIT + ANSWER_RESERVE_BYTES);
    expect(LARGE_ANSWER_POOL_BYTES).toBeGreaterThanOrEqual(2 * MAX_BODY_LIMIT);
    const b = new InflightBudget();
    const largest = b.admit(MAX_BODY_LIMIT);
    expect(largest?.reserveBytes).toBe(ANSWER_RESERVE_BYTES);
    expect(b.usage.callBytes).toBe(MAX_BODY_LIMIT + ANSWER_RESERVE_BYTES);
  });

  it("admits a call by reserving its request body plus the answer reserve", () => {
    const b = budget();
    admitted(b, 250);
    expect(b.usage).toEqual({ callBytes: 350, largeBytes: 0, waiting: 0 });
  });

  it("refuses a call that does not fit, and does NOT count the refused one", () => {
    const b = budget();
    admitted(b, 800); // 900 of 1,000
    expect(b.admit(1)).toBeNull(); // 1 + 100 would make 1,001
    expect(b.usage.callBytes).toBe(900);
    expect(b.admit(0)).not.toBeNull(); // exactly 1,000
    expect(b.admit(0)).toBeNull();
  });

  it("gives everything back on release, so the whole budget can be admitted again", async () => {
    const b = budget();
    const first = admitted(b, 400);
    const second = admitted(b, 300);
    await first.growAnswer(300);
    await second.growAnswer(200);
    expect(b.usage).toEqual({ callBytes: 900, largeBytes: 500, waiting: 0 });
    first.release();
    second.release();
    expect(b.usage).toEqual({ callBytes: 0, largeBytes: 0, waiting: 0 });
    const whole = admitted(b, 800);
    expect(await settled(whole.growAnswer(500))).toBe(true);
  });

  it("releases once: a second release does NOT free other admissions' bytes", async () => {
    const b = budget();
    const first = admitted(b, 100);
    const second = admitted(b, 100);
    await first.growAnswer(200);
    await second.growAnswer(300);
    first.release();
    first.release();
    expect(b.usage).toEqual({ callBytes: 200, largeBytes: 300, waiting: 0 });
  });

  it("grants an answer at once while the large-answer pool has room", async () => {
    const b = budget();
    const a = admitted(b);
    expect(await settled(a.growAnswer(500))).toBe(true);
    expect(b.usage.largeBytes).toBe(500);
  });

  it("makes a grower wait while the pool is full, and grants it when a holder releases", async () => {
    const b = budget();
    const holder = admitted(b);
    await holder.growAnswer(400);
    const waiter = admitted(b);
    const grant = waiter.growAnswer(200);
    expect(await settled(grant)).toBe(false);
    expect(b.usage.waiting).toBe(1);
    holder.release();
    expect(await settled(grant)).toBe(true);
    expect(b.usage).toEqual({ callBytes: 100, largeBytes: 200, waiting: 0 });
  });

  it("grants in arrival order: a small request does NOT overtake a large one that waits", async () => {
    const b = budget();
    const holder = admitted(b);
    await holder.growAnswer(300); // 200 left
    const order: string[] = [];
    const large = admitted(b)
      .growAnswer(400)
      .then(() => order.push("large"));
    // 50 would fit now, but the large request came first.
    const small = admitted(b)
      .growAnswer(50)
      .then(() => order.push("small"));
    expect(await settled(small)).toBe(false);
    holder.release();
    await Promise.all([large, small]);
    expect(order).toEqual(["large", "small"]);
    expect(b.usage.largeBytes).toBe(450);
  });

  it("refuses at once, rather than forever, a growth the pool could never hold", async () => {
    const b = budget();
    const a = admitted(b);
    const outcome = (bytes: number) =>
      a.growAnswer(bytes).then(
        () => "granted",
        (e: unknown) => e,
      );
    const tooLarge = outcome(501);
    expect(await settled(tooLarge)).toBe(true);
    expect(await tooLarge).toBeInstanceOf(RangeError);
    // With what the admission already holds: nothing could ever free its own bytes.
    await a.growAnswer(300);
    const beyondOwn = outcome(201);
    expect(await settled(beyondOwn)).toBe(true);
    expect(await beyondOwn).toBeInstanceOf(RangeError);
    expect(b.usage).toEqual({ callBytes: 100, largeBytes: 300, waiting: 0 });
  });

  it("drops an admission's waiting growth on release, and grants the ones behind it", async () => {
    const b = budget();
    const holder = admitted(b);
    await holder.growAnswer(400);
    const dropped = admitted(b);
    const refused = dropped.growAnswer(500);
    const behind = admitted(b).growAnswer(100);
    dropped.release();
    await expect(refused).rejects.toThrow(/released/);
    await expect(dropped.growAnswer(1)).rejects.toThrow(/after release/);
    expect(await settled(behind)).toBe(true);
    expect(b.usage).toEqual({ callBytes: 200, largeBytes: 500, waiting: 0 });
  });

  it("refuses a request body larger than the largest allowed, instead of admitting it", () => {
    expect(() => budget().admit(801)).toThrow(/largest allowed/);
  });

  it.each([
    ["budgetBytes", { budgetBytes: 899 }, /budgetBytes \(899\)/],
    ["largeAnswerPoolBytes", { largeAnswerPoolBytes: 499 }, /largeAnswerPoolBytes \(499\)/],
    ["answerReserveBytes", { answerReserveBytes: -1 }, /answerReserveBytes/],
    ["largestAnswerBytes", { largestAnswerBytes: 1.5 }, /largestAnswerBytes/],
  ])("rejects a %s that breaks its invariant at construction, naming it", (_, change, error) => {
    expect(() => new InflightBudget({ ...LIMITS, ...change })).toThrow(error);
  });

  it("never holds more than its pools, and holds nothing once every admission is released (property)", async () => {
    type Step =
      | { kind: "admit"; bytes: number }
      | { kind: "grow"; who: number; bytes: number }
      | { kind: "release"; who: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant("admit" as const), bytes: fc.integer({ min: 0, max: 800 }) }),
      fc.record({
        kind: fc.constant("grow" as const),
        who: fc.nat(7),
        bytes: fc.integer({ min: 0, max: 600 }),
      }),
      fc.record({ kind: fc.constant("release" as const), who: fc.nat(7) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const b = budget();
        const admissions: Admission[] = [];
        const pending: Promise<unknown>[] = [];
        for (const s of steps) {
          if (s.kind === "admit") {
            const a = b.admit(s.bytes);
            if (a !== null) admissions.push(a);
          } else if (s.kind === "grow") {
            const a = admissions[s.who % Math.max(1, admissions.length)];
            if (a !== undefined) pending.push(a.growAnswer(s.bytes).catch(() => undefined));
          } else {
            admissions[s.who % Math.max(1, admissions.length)]?.release();
          }
          await Promise.resolve();
          expect(b.usage.callBytes).toBeLessThanOrEqual(LIMITS.budgetBytes);
          expect(b.usage.largeBytes).toBeLessThanOrEqual(LIMITS.largeAnswerPoolBytes);
        }
        for (const a of admissions) a.release();
        // Every growth ends, granted or dropped: none waits forever.
        await Promise.all(pending);
        expect(b.usage).toEqual({ callBytes: 0, largeBytes: 0, waiting: 0 });
      }),
    );
  });
});
