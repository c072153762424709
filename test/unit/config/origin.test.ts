import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/config";

/** A stand-in for a service binding: only its shape matters to the configuration. */
const BINDING = { fetch: () => Promise.resolve(new Response(null)) };

describe("the origin", () => {
  it("may be a service binding named ORIGIN instead of ORIGIN_URL", () => {
    const result = parseConfig({ ORIGIN: BINDING });
    expect(result.ok ? result.config.originUrl : result.error).toBe("");
  });

  it("keeps ORIGIN_URL's base beside a binding", () => {
    const result = parseConfig({ ORIGIN: BINDING, ORIGIN_URL: "https://payments.internal/base/" });
    expect(result.ok ? result.config.originUrl : result.error).toBe(
      "https://payments.internal/base",
    );
  });

  it.each([{}, { ORIGIN: "https://not-a-binding.example.com" }, { ORIGIN: { fetch: 1 } }])(
    "is required when neither ORIGIN_URL nor a binding is there (%j), naming ORIGIN_URL",
    (env) => {
      const result = parseConfig(env);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.variable).toBe("ORIGIN_URL");
        expect(result.error.detail).toContain("ORIGIN");
      }
    },
  );

  it("does NOT accept an empty ORIGIN_URL as absent without a binding", () => {
    const result = parseConfig({ ORIGIN_URL: "" });
    expect(result.ok ? null : result.error.variable).toBe("ORIGIN_URL");
  });
});
