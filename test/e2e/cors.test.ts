import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { send, startGateway } from "./harness";

/**
 * Browsers over real HTTP (docs/adr/0012), through `wrangler dev`, with the `Origin` headers a
 * browser sends: a preflight reaches the origin untouched, and a replay keeps the origin's CORS
 * headers only for the page they were made for. OPTIONS is covered and keys are required here,
 * the configuration in which a preflight would otherwise be refused.
 */

const SHOP = "https://shop.example";
const OTHER = "https://other.example";

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, {
    IDEMPOTENCY_METHODS: "POST,OPTIONS",
    IDEMPOTENCY_KEY_REQUIRED: "true",
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

describe("browsers over HTTP (wrangler dev)", () => {
  it("passes a CORS preflight to the origin untouched and returns the origin's answer", async () => {
    const marker = randomUUID();
    const response = await fetch(`${gateway.url}/cors`, {
      method: "OPTIONS",
      headers: {
        origin: SHOP,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, idempotency-key",
        "x-marker": marker,
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(response.headers.get("access-control-allow-methods")).toBe("POST");
    const seen = origin.requests(marker);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe("OPTIONS");
    expect(seen[0]?.headers.origin).toBe(SHOP);
  });

  it("lets the page that made the first request read Idempotent-Replayed on a replay, and does NOT give another page its Access-Control-Allow-Origin", async () => {
    const key = randomUUID();
    const first = await send(gateway, "/cors", { key, headers: { origin: SHOP } });
    expect(first.status).toBe(201);
    expect(first.headers.get("access-control-allow-origin")).toBe(SHOP);

    const own = await send(gateway, "/cors", { key, headers: { origin: SHOP } });
    expect(own.headers.get("idempotent-replayed")).toBe("true");
    expect(own.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(own.headers.get("access-control-expose-headers")).toBe("X-Charge, Idempotent-Replayed");

    const other = await send(gateway, "/cors", { key, headers: { origin: OTHER } });
    expect(other.status).toBe(201);
    expect(other.headers.get("idempotent-replayed")).toBe("true");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect(other.headers.get("access-control-allow-credentials")).toBeNull();
    expect(other.headers.get("access-control-expose-headers")).toBeNull();
    expect(await other.text()).toBe(await first.text());
    expect(origin.requests(key)).toHaveLength(1);
  });
});
