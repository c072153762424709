import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import createMollieClient, { type MollieClient } from "@mollie/api-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startGateway, startGateways } from "./harness";

/**
 * Mollie's official Node SDK (`@mollie/api-client`) through the gateway (docs/providers.md,
 * "Mollie"), over real HTTP against a loopback origin that answers `POST /v2/payments` in Mollie's
 * shape and deduplicates on `Idempotency-Key` as Mollie's API does. The SDK puts a key of its own on
 * every `POST` and, on a `5xx`, tries again twice with the same key, two seconds apart: its own
 * automatic retry after a lost answer is what this drives.
 *
 * The SDK only speaks HTTPS (it pins its own TLS agent), so a loopback TLS relay with a throwaway
 * self-signed certificate stands in front of each gateway, as Cloudflare's edge terminates TLS in
 * front of a deployed Worker; certificate checks are off in this test process for loopback only.
 */

/** How long the origin takes to create a payment: past the gateway's origin timeout. */
const CREATE_MS = 1_500;

interface MollieOrigin {
  url: string;
  executions(key: string): number;
  /** How many requests with this key reached it (executed or answered from what it kept). */
  arrivals(key: string): number;
  close(): Promise<void>;
}

/** A Mollie-shaped payments API that creates a payment once per key and answers duplicates from it. */
async function startMollieOrigin(): Promise<MollieOrigin> {
  const kept = new Map<string, Promise<string>>();
  const executed = new Map<string, number>();
  const arrived = new Map<string, number>();
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    request.on("end", () => {
      if (request.method !== "POST" || request.url !== "/v2/payments") {
        // The gateway's reachability probe (a HEAD), or anything else: no payment.
        response.writeHead(request.method === "HEAD" ? 200 : 404).end();
        return;
      }
      const key = String(request.headers["idempotency-key"] ?? "");
      arrived.set(key, (arrived.get(key) ?? 0) + 1);
      let answer = kept.get(key);
      if (answer === undefined) {
        executed.set(key, (executed.get(key) ?? 0) + 1);
        const input = JSON.parse(body) as { amount: unknown; description: string };
        const payment = JSON.stringify({
          resource: "payment",
          id: `tr_${randomUUID().replaceAll("-", "").slice(0, 10)}`,
          mode: "test",
          status: "open",
          amount: input.amount,
          description: input.description,
          createdAt: new Date().toISOString(),
          _links: {
            self: { href: "https://api.mollie.com/v2/payments", type: "application/hal+json" },
          },
        });
        answer = new Promise((resolve) => setTimeout(() => resolve(payment), CREATE_MS));
        if (key !== "") kept.set(key, answer);
      }
      void answer.then((payment) => {
        response.writeHead(201, { "content-type": "application/hal+json" });
        response.end(payment);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    executions: (key) => executed.get(key) ?? 0,
    arrivals: (key) => arrived.get(key) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback TLS relay to `target`: what the SDK, which speaks only HTTPS, talks to. */
async function startTlsRelay(target: string, tls: { key: Buffer; cert: Buffer }) {
  const server = https.createServer(tls, (request, response) => {
    const upstream = http.request(
      `${target}${request.url ?? "/"}`,
      { method: request.method, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let origin: MollieOrigin;
let gateways: WranglerDev[] = [];
let relays: { url: string; close(): Promise<void> }[] = [];
let certificates: string;
const rejectUnauthorized = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

beforeAll(async () => {
  certificates = mkdtempSync(path.join(tmpdir(), "idem-mollie-"));
  const key = path.join(certificates, "key.pem");
  const cert = path.join(certificates, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert,
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  const tls = { key: readFileSync(key), cert: readFileSync(cert) };
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
  origin = await startMollieOrigin();
  const timeout = { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "500" };
  gateways = await startGateways([
    startGateway(origin.url, timeout),
    startGateway(origin.url, {
      ...timeout,
      IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
      IDEMPOTENCY_ORIGIN_KEY_SECONDS: "3600",
    }),
  ]);
  relays = await Promise.all(gateways.map((gateway) => startTlsRelay(gateway.url, tls)));
});

afterAll(async () => {
  await Promise.all(relays.map((relay) => relay.close()));
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  await origin?.close();
  if (certificates !== undefined) rmSync(certificates, { recursive: true, force: true });
  if (rejectUnauthorized === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  else process.env.NODE_TLS_REJECT_UNAUTHORIZED = rejectUnauthorized;
});

function mollie(relay: { url: string } | undefined): MollieClient {
  if (relay === undefined) throw new Error("the relays did not start");
  return createMollieClient({
    apiKey: "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
    apiEndpoint: `${relay.url}/v2/`,
  });
}

const payment = (description: string, idempotencyKey: string) => ({
  amount: { currency: "EUR", value: "10.00" },
  description,
  redirectUrl: "https://example.org/return",
  idempotencyKey,
});

describe("Mollie's official SDK through the gateway (wrangler dev)", () => {
  it("settles a lost answer by its own retry under reforward: one payment at the origin, created once", async () => {
    const key = randomUUID();
    const created = await mollie(relays[1]).payments.create(payment("Order 1", key));
    expect(created).toMatchObject({ resource: "payment", status: "open", description: "Order 1" });
    // The first attempt timed out at the gateway (504); the SDK's retry was re-forwarded and the
    // origin answered it from the payment it had made.
    expect(origin.arrivals(key)).toBe(2);
    expect(origin.executions(key)).toBe(1);
    // The answer is stored: the same call again is a replay of that payment.
    const again = await mollie(relays[1]).payments.create(payment("Order 1", key));
    expect(again.id).toBe(created.id);
    expect(origin.executions(key)).toBe(1);
  });

  it("never charges twice under fail-closed: its three attempts get 504, the origin executed once", async () => {
    const key = randomUUID();
    const attempt = mollie(relays[0]).payments.create(payment("Order 2", key));
    await expect(attempt).rejects.toMatchObject({ statusCode: 504 });
    expect(origin.arrivals(key)).toBe(1);
    expect(origin.executions(key)).toBe(1);
  });
});
