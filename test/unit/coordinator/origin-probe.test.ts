import { afterEach, describe, expect, it, vi } from "vitest";
import {
  CONTACT_WINDOW_MS,
  PROBE_TIMEOUT_MS,
  SUSPECT_MS,
  markContact,
  markSuspect,
  needsProbe,
  probeOrigin,
} from "../../../src/coordinator/origin-probe";

const HOP: [string, string][] = [["idempotency-gateway-hop", "h"]];
let hosts = 0;
/** A fresh origin host per test: the probe's memory is isolate-wide. */
const freshOrigin = () => `https://origin-${++hosts}.example.com`;

afterEach(() => {
  vi.useRealTimers();
});

describe("the origin probe", () => {
  it.each([200, 204, 404, 405, 500, 521, 530])(
    "counts any HTTP answer (%i) as reachable: a healthy origin is never made unavailable",
    async (status) => {
      const origin = freshOrigin();
      const seen: Request[] = [];
      const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
        seen.push(new Request(input, init));
        return new Response(null, { status });
      };
      expect(await probeOrigin(origin, HOP, { fetchImpl: fetchImpl as typeof fetch })).toBe(
        "reachable",
      );
      expect(seen[0]?.method).toBe("HEAD");
      expect(seen[0]?.url).toBe(`${origin}/`);
      expect(seen[0]?.headers.get("idempotency-gateway-hop")).toBe("h");
      expect(needsProbe(origin, Date.now())).toBe(false);
    },
  );

  it("sends its HEAD to IDEMPOTENCY_PROBE_PATH under the origin's base URL, query included", async () => {
    const origin = `${freshOrigin()}/api`;
    const seen: Request[] = [];
    const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input, init));
      return new Response(null, { status: 204 });
    };
    const path = "/health?from=gateway";
    expect(await probeOrigin(origin, HOP, { path, fetchImpl: fetchImpl as typeof fetch })).toBe(
      "reachable",
    );
    expect(seen.map((request) => [request.method, request.url])).toEqual([
      ["HEAD", `${origin}/health?from=gateway`],
    ]);
  });

  it("never asks for a probe when IDEMPOTENCY_PROBE_PATH is off, even for a suspect origin", () => {
    const origin = freshOrigin();
    markSuspect(origin, 1_000);
    expect(needsProbe(origin, 1_001, undefined, "/")).toBe(true);
    expect(needsProbe(origin, 1_001, undefined, null)).toBe(false);
  });

  it("counts a probe that throws as unreachable", async () => {
    const fetchImpl = async () => {
      throw new Error("Network connection lost.");
    };
    expect(await probeOrigin(freshOrigin(), HOP, { fetchImpl: fetchImpl as typeof fetch })).toBe(
      "unreachable",
    );
  });

  it("counts a probe that outlives its timeout as inconclusive, never as unreachable", async () => {
    vi.useFakeTimers();
    const fetchImpl = (_: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(new Error("aborted")));
      });
    const result = probeOrigin(freshOrigin(), HOP, { fetchImpl: fetchImpl as typeof fetch });
    await vi.advanceTimersByTimeAsync(PROBE_TIMEOUT_MS);
    expect(await result).toBe("inconclusive");
  });

  it("asks for a probe with no recent answer, and not within the contact window after one", () => {
    const origin = freshOrigin();
    const now = 1_000_000;
    expect(needsProbe(origin, now)).toBe(true);
    markContact(origin, now);
    expect(needsProbe(origin, now + CONTACT_WINDOW_MS)).toBe(false);
    expect(needsProbe(origin, now + CONTACT_WINDOW_MS + 1)).toBe(true);
  });

  it("asks for a probe while the origin is suspect, even right after an answer elsewhere in time", () => {
    const origin = freshOrigin();
    const now = 1_000_000;
    markContact(origin, now);
    markSuspect(origin, now + 1);
    expect(needsProbe(origin, now + 2)).toBe(true);
    // An answer ends the suspicion.
    markContact(origin, now + 3);
    expect(needsProbe(origin, now + 4)).toBe(false);
    markSuspect(origin, now + 5);
    expect(needsProbe(origin, now + 5 + SUSPECT_MS - 1)).toBe(true);
  });

  it("never asks for a probe through a service binding, even for a suspect origin", () => {
    const origin = freshOrigin();
    const binding = { fetch: () => Promise.reject(new Error("probed")) } as unknown as Fetcher;
    markSuspect(origin, 1_000);
    expect(needsProbe(origin, 1_001)).toBe(true);
    expect(needsProbe(origin, 1_001, binding)).toBe(false);
  });

  it("keeps its memory without an origin URL (a binding's origin) instead of throwing", () => {
    expect(() => markContact("", 1)).not.toThrow();
    expect(() => markSuspect("", 2)).not.toThrow();
    expect(needsProbe("", 3)).toBe(true);
  });
});
