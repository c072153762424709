import { describe, expect, it } from "vitest";
import { EdgeReplays, MAX_CACHE_BYTES, MAX_ENTRY_BYTES } from "../../../src/http/edge-replays";
import type { StoredResponse } from "../../../src/core/stored-response";

const NOW = 1_800_000_000_000;
const answer = (bytes: number): StoredResponse => ({
  status: 201,
  headers: [["content-type", "application/json"]],
  body: new Uint8Array(bytes),
});

describe("the edge replay cache", () => {
  it("replays a kept answer for the same fingerprint, and says mismatch for another", () => {
    const edge = new EdgeReplays();
    const response = answer(10);
    edge.remember("id", "fp", response, NOW + 1000);
    expect(edge.lookup("id", "fp", NOW)).toEqual({ kind: "replay", response });
    expect(edge.lookup("id", "other", NOW)).toEqual({ kind: "mismatch" });
    expect(edge.lookup("another-id", "fp", NOW)).toEqual({ kind: "miss" });
  });

  it("does NOT replay past its bound, and frees the entry", () => {
    const edge = new EdgeReplays();
    edge.remember("id", "fp", answer(10), NOW + 1000);
    expect(edge.lookup("id", "fp", NOW + 1000)).toEqual({ kind: "miss" });
    expect(edge.bytes).toBe(0);
  });

  it("does NOT keep an answer larger than one entry may be", () => {
    const edge = new EdgeReplays();
    edge.remember("id", "fp", answer(MAX_ENTRY_BYTES + 1), NOW + 1000);
    expect(edge.lookup("id", "fp", NOW)).toEqual({ kind: "miss" });
  });

  it("forgets an entry at once when told (a purge made through this isolate)", () => {
    const edge = new EdgeReplays();
    edge.remember("id", "fp", answer(10), NOW + 1000);
    edge.forget("id");
    expect(edge.lookup("id", "fp", NOW)).toEqual({ kind: "miss" });
  });

  it("stays within its byte bound, evicting the least recently used first", () => {
    const edge = new EdgeReplays();
    const size = MAX_ENTRY_BYTES - 100;
    const count = Math.ceil(MAX_CACHE_BYTES / size) + 5;
    for (let i = 0; i < count; i++) {
      edge.remember(`id-${i}`, "fp", answer(size), NOW + 1000);
      // Keep the first one in use: it must survive.
      edge.lookup("id-0", "fp", NOW);
    }
    expect(edge.bytes).toBeLessThanOrEqual(MAX_CACHE_BYTES);
    expect(edge.lookup("id-0", "fp", NOW).kind).toBe("replay");
    expect(edge.lookup("id-1", "fp", NOW).kind).toBe("miss");
    expect(edge.lookup(`id-${count - 1}`, "fp", NOW).kind).toBe("replay");
  });
});
