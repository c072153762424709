import { describe, expect, it } from "vitest";
import {
  bySpecificity,
  parsePathPattern,
  type PathPattern,
} from "../../../src/config/path-pattern";

function pattern(source: string): PathPattern {
  const result = parsePathPattern(source);
  if (!result.ok) throw new Error(`${source}: ${result.reason}`);
  return result.pattern;
}

/** Patterns and paths on which the gateway must agree with the platform's URLPattern. */
const PATTERNS = [
  "/v2/checkout/orders",
  "/v2/checkout/orders/:id/capture",
  "/v2/checkout/orders/:id/track",
  "/v2/checkout/orders/*",
  "/v1/refunds/*",
  "/v1*",
  "/files/:name.json",
  "/a/:first/b/:second",
  "/",
  "/*",
];
const PATHS = [
  "/",
  "/v1",
  "/v1/",
  "/v1x",
  "/v1/refunds",
  "/v1/refunds/",
  "/v1/refunds/re_1/items",
  "/v2/checkout/orders",
  "/v2/checkout/orders/",
  "/v2/checkout/orders/5O190127TN364715T/capture",
  "/v2/checkout/orders/5O190127TN364715T/capture/",
  "/v2/checkout/orders//capture",
  "/v2/checkout/orders/a/b/capture",
  "/v2/checkout/orders/5O1/track",
  "/files/report.json",
  "/files/a.b.json",
  "/files/.json",
  "/a/1/b/2",
  "/a/1/b/2/c",
  "/A/1/b/2",
];

describe("route patterns (URLPattern pathname syntax)", () => {
  it.each(PATTERNS)("match exactly the paths the platform's URLPattern matches: %s", (source) => {
    const platform = new URLPattern({ pathname: source });
    const ours = pattern(source);
    for (const path of PATHS) {
      expect(ours.matches(path), `${source} on ${path}`).toBe(platform.test({ pathname: path }));
    }
  });

  it("match one segment with :name, and any rest (empty included) with a trailing *", () => {
    expect(
      pattern("/v2/checkout/orders/:id/capture").matches("/v2/checkout/orders/X/capture"),
    ).toBe(true);
    expect(
      pattern("/v2/checkout/orders/:id/capture").matches("/v2/checkout/orders/X/Y/capture"),
    ).toBe(false);
    expect(pattern("/v1/refunds/*").matches("/v1/refunds/")).toBe(true);
    expect(pattern("/v1/refunds/*").matches("/v1/refunds")).toBe(false);
  });

  it.each([
    ["v1/*", "starting with"],
    ["/v1/*/x", "only at its end"],
    ["/v1/:id*", "modifier"],
    ["/v1/:id?", "URLPattern pathname syntax"],
    ["/v1/:id+", "URLPattern pathname syntax"],
    ["/v1/(\\d+)", "URLPattern pathname syntax"],
    ["/v1/{orders}?", "URLPattern pathname syntax"],
    ["/v1/:", "name each parameter"],
    ["/v1/:1", "name each parameter"],
    ["/v1/:id/x/:id", "repeat the parameter"],
    ["/v1/a b", "URLPattern pathname syntax"],
    ["/v1/café", "URLPattern pathname syntax"],
    ["/v1#x", "URLPattern pathname syntax"],
  ])("refuse %j, saying why (%s)", (source, reason) => {
    const result = parsePathPattern(source);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it("rank a pattern without * first, then fewer :name parameters, then more literal characters", () => {
    const ranked = [
      "/v1/*",
      "/v1/refunds/*",
      "/v1/refunds/:id",
      "/v1/:kind/:id",
      "/v1/refunds/special",
      "/v1/refunds/re_1",
    ]
      .map(pattern)
      .sort(bySpecificity)
      .map((p) => p.source);
    expect(ranked).toEqual([
      "/v1/refunds/special",
      "/v1/refunds/re_1",
      "/v1/refunds/:id",
      "/v1/:kind/:id",
      "/v1/refunds/*",
      "/v1/*",
    ]);
  });

  it("does NOT reorder patterns of equal specificity: the first declared stays first", () => {
    const ranked = ["/a/:x/c", "/a/b/:y"].map(pattern).sort(bySpecificity);
    expect(ranked.map((p) => p.source)).toEqual(["/a/:x/c", "/a/b/:y"]);
    const reversed = ["/a/b/:y", "/a/:x/c"].map(pattern).sort(bySpecificity);
    expect(reversed.map((p) => p.source)).toEqual(["/a/b/:y", "/a/:x/c"]);
  });
});
