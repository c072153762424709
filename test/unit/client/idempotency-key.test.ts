import { describe, expect, it } from "vitest";
import { isValidIdempotencyKey } from "../../../src/client";

describe("isValidIdempotencyKey", () => {
  it.each([
    "8e03978e-40d5-43e8-bc93-6894a57f9324",
    '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
    "a",
    "k".repeat(255),
    `"${"k".repeat(255)}"`,
    '"with \\"escaped\\" quotes and \\\\"',
    "order 42",
  ])("accepts %j", (key) => {
    expect(isValidIdempotencyKey(key)).toBe(true);
  });

  it.each([
    "",
    '""',
    "k".repeat(256),
    `"${"k".repeat(256)}"`,
    "café",
    "tab\there",
    " leading-space",
    '"unterminated',
    '"bad \\n escape"',
    '"early" end"',
  ])("rejects %j", (key) => {
    expect(isValidIdempotencyKey(key)).toBe(false);
  });
});
