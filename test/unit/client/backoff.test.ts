import { describe, expect, it } from "vitest";
import { fullJitterDelay } from "../../../src/client/backoff";

const OPTIONS = { baseDelayMs: 500, maxDelayMs: 10_000 };

describe("fullJitterDelay", () => {
  it("draws between 0 and the base delay before the first retry", () => {
    expect(fullJitterDelay(0, { ...OPTIONS, random: () => 0 })).toBe(0);
    expect(fullJitterDelay(0, { ...OPTIONS, random: () => 0.999 })).toBe(499);
  });

  it("doubles the ceiling on each retry", () => {
    const half = { ...OPTIONS, random: () => 0.5 };
    expect([0, 1, 2, 3].map((retry) => fullJitterDelay(retry, half))).toEqual([
      250, 500, 1_000, 2_000,
    ]);
  });

  it("never exceeds the cap, even after many retries", () => {
    expect(fullJitterDelay(1_000, { ...OPTIONS, random: () => 0.999 })).toBe(9_990);
  });
});
