import { describe, expect, it } from "vitest";
import { isReplayed } from "../../../src/client";

describe("isReplayed", () => {
  it("recognises Idempotent-Replayed: true, in any case", () => {
    expect(isReplayed(new Response(null, { headers: { "Idempotent-Replayed": "true" } }))).toBe(
      true,
    );
    expect(isReplayed(new Response(null, { headers: { "idempotent-replayed": "TRUE" } }))).toBe(
      true,
    );
  });

  it("does NOT call a response without the header, or with another value, a replay", () => {
    expect(isReplayed(new Response(null))).toBe(false);
    expect(isReplayed(new Response(null, { headers: { "Idempotent-Replayed": "false" } }))).toBe(
      false,
    );
  });
});
