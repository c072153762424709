import { randomUUID } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startTestOrigin, type TestOrigin } from "../../harness/test-origin";
import { startGateway } from "./harness";

/**
 * A keyed `GET` with a body, on a route that covers `GET` (README, "Outcomes"). `fetch` refuses
 * to send such a request, so it goes over a bare socket, as a client's bytes would. The body is
 * fingerprinted but not forwarded (RFC 9110 §9.3.1: it has no defined meaning), and a request
 * that could not be built would release its key: a key is never burned by a request that never
 * reached the origin.
 */

let origin: TestOrigin;
let gateway: WranglerDev;

beforeAll(async () => {
  origin = await startTestOrigin();
  gateway = await startGateway(origin.url, {
    IDEMPOTENCY_ROUTES: JSON.stringify({ "/q/*": { IDEMPOTENCY_METHODS: "GET,POST" } }),
  });
});

afterAll(async () => {
  await gateway?.stop();
  await origin?.close();
});

/** Sends `GET path` with `key` and a body over a bare socket; resolves with the answer's head. */
function rawGet(path: string, key: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(gateway.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.end(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk_test_e2e\r\n` +
        `Idempotency-Key: ${key}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

describe("a keyed GET with a body (wrangler dev)", () => {
  it("is forwarded once without its body and then replayed: the key is never burned", async () => {
    const key = randomUUID();
    const first = await rawGet("/q/1", key, "{}");
    expect(first).toMatch(/^HTTP\/1\.1 201 /);
    const seen = origin.requests(key);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe("GET");
    expect(seen[0]?.bodyBase64).toBe("");

    const retry = await rawGet("/q/1", key, "{}");
    expect(retry).toMatch(/^HTTP\/1\.1 201 /);
    expect(retry.toLowerCase()).toContain("idempotent-replayed: true");
    expect(origin.requests(key)).toHaveLength(1);
  });
});
