import { describe, expect, it } from "vitest";
import { parseRetryAfter } from "../../../src/client";

const NOW = Date.parse("Sun, 06 Nov 1994 08:49:00 GMT");

describe("parseRetryAfter", () => {
  it("reads delay-seconds as milliseconds", () => {
    expect(parseRetryAfter("120", NOW)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", NOW)).toBe(0);
  });

  it("reads an IMF-fixdate relative to now", () => {
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", NOW)).toBe(37_000);
  });

  it("reads the obsolete rfc850 and asctime dates as GMT", () => {
    expect(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", NOW)).toBe(37_000);
    expect(parseRetryAfter("Sun Nov  6 08:49:37 1994", NOW)).toBe(37_000);
  });

  it("treats a date in the past as no wait", () => {
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:48:00 GMT", NOW)).toBe(0);
  });

  it.each([null, "", "soon", "1.5", "-1", "Sun, 99 Foo 1994 99:99:99 GMT"])(
    "gives undefined for %j",
    (value) => {
      expect(parseRetryAfter(value, NOW)).toBeUndefined();
    },
  );
});
