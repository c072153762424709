import { describe, expect, it } from "vitest";
import { isAdmin } from "../../../src/http/admin-auth";

const TOKEN = "s3cret-admin-token";

describe("isAdmin", () => {
  it("accepts exactly Bearer <token>", async () => {
    expect(await isAdmin(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
  });

  it.each([
    ["no header", null],
    ["an empty header", ""],
    ["another token", "Bearer s3cret-admin-tokem"],
    ["a prefix of the token", "Bearer s3cret"],
    ["the token with more after it", `Bearer ${TOKEN}x`],
    ["the token without the scheme", TOKEN],
    ["another scheme", `Basic ${TOKEN}`],
  ])("does NOT accept %s", async (_, header) => {
    expect(await isAdmin(header, TOKEN)).toBe(false);
  });
});
