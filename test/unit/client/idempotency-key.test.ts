import { afterEach, describe, expect, it, vi } from "vitest";
import { isValidIdempotencyKey, randomIdempotencyKey } from "../../../src/client";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

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

describe("randomIdempotencyKey", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("makes a different UUIDv4 each time", () => {
    const keys = new Set(Array.from({ length: 100 }, randomIdempotencyKey));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(key).toMatch(UUID_V4);
  });

  it("says what to pass instead where crypto.randomUUID is missing, as on Node 18", () => {
    vi.stubGlobal("crypto", undefined);
    expect(() => randomIdempotencyKey()).toThrow(
      /pass idempotencyKey on each call, or a generateKey/,
    );
  });
});
