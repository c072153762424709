import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SIGHTING_VALID_MS } from "../../src/coordinator/mapping-registry";
import { DRAIN_MARGIN_MS } from "../../src/core/mapping";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import { EDGE_OFF, forgetVerdicts, newKey, originRequests, post, problemOf } from "./harness";

/**
 * Changing `IDEMPOTENCY_SCOPE_HEADERS` (docs/operations.md, "Changing the scope headers";
 * src/core/scope-change.ts): the list is part of every key's identity, so the registry refuses a
 * silent change, and an explicit one (`IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS`) keeps every stored
 * key found and every key forwarded once while old and new Workers serve side by side. Every
 * request carries both the old scope header (`Authorization`) and the new one (`X-Api-Key`).
 */

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const TTL_S = 3600;
const OLD = { IDEMPOTENCY_TTL_SECONDS: String(TTL_S), ...EDGE_OFF };
const SILENT = { ...OLD, IDEMPOTENCY_SCOPE_HEADERS: "x-api-key" };
const CHANGING = { ...SILENT, IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS: "authorization" };
const headers = { "x-api-key": "key_live_a" };

/** Moves the clock of the Worker and its objects `ms` forward from where it is. */
function advance(ms: number): void {
  if (!vi.isFakeTimers()) vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + ms);
}

const send = (key: string, vars: Record<string, string>) =>
  post("/v1/charges", key, { vars, headers });

describe("a change of the scope headers", () => {
  // Each test meets the registry afresh: an object must not claim under a verdict it kept in
  // memory from the other test (docs/adr/0009).
  beforeEach(forgetVerdicts);

  it("is refused when silent: a retry of a stored key is answered 500, never forwarded again", async () => {
    const stored = newKey();
    expect((await send(stored, OLD)).status).toBe(201);
    const retry = await send(stored, SILENT);
    expect(retry.status).toBe(500);
    const problem = await problemOf(retry);
    expect(problem.code).toBe("invalid-configuration");
    expect(String(problem.detail)).toContain("IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS=authorization");
    expect(await originRequests(stored)).toHaveLength(1);
  });

  it("made explicitly, finds stored keys, meets old Workers until it drains, then claims under the new identity and refuses the old list", async () => {
    const stored = newKey();
    expect((await send(stored, OLD)).status).toBe(201);
    const replay = await send(stored, CHANGING);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");

    // Before the change drains, a new key is claimed under its old identity: an old Worker's
    // retry meets it there.
    const early = newKey();
    expect((await send(early, CHANGING)).status).toBe(201);
    expect((await send(early, OLD)).headers.get(REPLAYED_HEADER)).toBe("true");

    // No Worker with the old list alone for the verdict lease and the margin: drained.
    advance(SIGHTING_VALID_MS + DRAIN_MARGIN_MS + 1000);
    const late = newKey();
    expect((await send(late, CHANGING)).status).toBe(201);
    expect((await send(late, CHANGING)).headers.get(REPLAYED_HEADER)).toBe("true");
    expect((await send(early, CHANGING)).headers.get(REPLAYED_HEADER)).toBe("true");
    // An old Worker now would look for the key where nothing is written any more.
    const refused = await send(late, OLD);
    expect(refused.status).toBe(500);
    expect((await problemOf(refused)).code).toBe("invalid-configuration");
    for (const key of [stored, early, late]) expect(await originRequests(key)).toHaveLength(1);

    // The previous list may go once every record under an old identity has expired.
    const premature = await send(newKey(), SILENT);
    expect(premature.status).toBe(500);
    expect(String((await problemOf(premature)).detail)).toContain(
      "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS",
    );
    advance(TTL_S * 1000 + SIGHTING_VALID_MS + 1000);
    const fresh = newKey();
    expect((await send(fresh, SILENT)).status).toBe(201);
    expect((await send(fresh, SILENT)).headers.get(REPLAYED_HEADER)).toBe("true");
  });
});
