import { describe, expect, it } from "vitest";
import { REPLAYED_HEADER } from "../../src/core/header-names";
import {
  countExecutes,
  EDGE_OFF,
  gateway,
  newKey,
  originArrivals,
  originRequests,
  post,
  releaseGate,
  type Vars,
} from "./harness";

/**
 * Browsers in front of the gateway (docs/adr/0012): a preflight passes through untouched; a
 * replay keeps the origin's CORS headers only for the page they were made for, and lets that page
 * read `Idempotent-Replayed`. The origin's `/cors` route allows the page's own Origin; `/cors/any`
 * allows every page.
 */

const SHOP = "https://shop.example";
const OTHER = "https://other.example";

function fromPage(path: string, key: string, page: string | null, vars: Vars = EDGE_OFF) {
  return post(path, key, { headers: page === null ? {} : { origin: page }, vars });
}

function corsHeaders(response: Response): Record<string, string | null> {
  return {
    allowOrigin: response.headers.get("access-control-allow-origin"),
    allowCredentials: response.headers.get("access-control-allow-credentials"),
    expose: response.headers.get("access-control-expose-headers"),
  };
}

describe("a CORS preflight", () => {
  it("is passed to the origin untouched, even where OPTIONS is covered and keys are required", async () => {
    const marker = newKey();
    const vars = { IDEMPOTENCY_METHODS: "POST,OPTIONS", IDEMPOTENCY_KEY_REQUIRED: "true" };
    const headers = {
      origin: SHOP,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type, idempotency-key",
      "x-marker": marker,
    };
    const response = await gateway("/cors", { method: "OPTIONS", headers }, vars);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(response.headers.get("access-control-allow-headers")).toContain("idempotency-key");
    expect(response.headers.get(REPLAYED_HEADER)).toBeNull();
    const seen = await originRequests(marker);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe("OPTIONS");
    expect(seen[0]?.headers["access-control-request-headers"]).toBe(
      headers["access-control-request-headers"],
    );
  });
});

describe("a replay to a page", () => {
  it("keeps the origin's CORS headers for the page the answer was made for, and exposes Idempotent-Replayed", async () => {
    const key = newKey();
    const first = await fromPage("/cors", key, SHOP);
    expect(corsHeaders(first)).toEqual({
      allowOrigin: SHOP,
      allowCredentials: "true",
      expose: "X-Charge",
    });
    const replay = await fromPage("/cors", key, SHOP);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(corsHeaders(replay)).toEqual({
      allowOrigin: SHOP,
      allowCredentials: "true",
      expose: `X-Charge, ${REPLAYED_HEADER}`,
    });
    expect(await replay.text()).toBe(await first.text());
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("does NOT hand one page's Access-Control-Allow-Origin to another page: its CORS headers are left out", async () => {
    const key = newKey();
    const first = await fromPage("/cors", key, SHOP);
    const replay = await fromPage("/cors", key, OTHER);
    expect(replay.status).toBe(201);
    expect(replay.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(corsHeaders(replay)).toEqual({
      allowOrigin: null,
      allowCredentials: null,
      expose: null,
    });
    // The rest of the stored answer is unchanged.
    expect(replay.headers.get("x-charge")).toBe(first.headers.get("x-charge"));
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("does NOT hand one page's Access-Control-Allow-Origin to another page's duplicate that joined the first call", async () => {
    const key = newKey();
    const gate = newKey();
    const first = fromPage(`/gate/${gate}/cors`, key, SHOP);
    await originArrivals(gate, 1);
    const duplicate = fromPage(`/gate/${gate}/cors`, key, OTHER);
    await releaseGate(gate);
    const [answer, joined] = await Promise.all([first, duplicate]);
    expect(answer.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(joined.headers.get(REPLAYED_HEADER)).toBe("true");
    expect(corsHeaders(joined)).toEqual({
      allowOrigin: null,
      allowCredentials: null,
      expose: null,
    });
    expect(await originRequests(key)).toHaveLength(1);
  });

  it("keeps an Access-Control-Allow-Origin of * for any page, exposing Idempotent-Replayed", async () => {
    const key = newKey();
    await fromPage("/cors/any", key, SHOP);
    const replay = await fromPage("/cors/any", key, OTHER);
    expect(corsHeaders(replay)).toEqual({
      allowOrigin: "*",
      allowCredentials: null,
      expose: `X-Charge, ${REPLAYED_HEADER}`,
    });
  });

  it("leaves a replay to a request without Origin as stored", async () => {
    const key = newKey();
    await fromPage("/cors", key, SHOP);
    const replay = await fromPage("/cors", key, null);
    expect(corsHeaders(replay)).toEqual({
      allowOrigin: SHOP,
      allowCredentials: "true",
      expose: "X-Charge",
    });
  });

  it("applies the same rule to a replay from the Worker's memory (edge replay)", async () => {
    const key = newKey();
    const vars = { IDEMPOTENCY_EDGE_REPLAY_SECONDS: "60" };
    await fromPage("/cors", key, SHOP, vars);
    const executes = countExecutes();
    const own = await fromPage("/cors", key, SHOP, vars);
    const other = await fromPage("/cors", key, OTHER, vars);
    expect(own.headers.get("access-control-expose-headers")).toBe(`X-Charge, ${REPLAYED_HEADER}`);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    // Both replays came from the Worker's memory: no command reached a coordinator.
    expect(executes.count).toBe(0);
    expect(await originRequests(key)).toHaveLength(1);
  });
});
