import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Lithic from "lithic";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startGateway, startGateways } from "./harness";

/**
 * A generated SDK driven through the gateway (docs/providers.md, "Generated SDKs (Stainless)"):
 * Lithic's official Node SDK, made by the Stainless generator, against a loopback origin that
 * answers `POST /v1/cards` in Lithic's shape, over two `wrangler dev` gateways. The SDK itself
 * decides when to retry — after its own `timeout` cuts an attempt off (the answer is lost to it,
 * though the origin executed), and after a `409` for as long as `Retry-After` says — and it
 * re-sends the same `Idempotency-Key` with a new `X-Stainless-Retry-Count`.
 */

/** A loopback origin for Lithic's `POST /v1/cards`; each key's first call waits for `release`. */
interface CardOrigin {
  url: string;
  /** How many cards were created for this key. */
  executions(key: string): number;
  /** The `X-Stainless-Retry-Count` of each request that reached the origin with this key. */
  attempts(key: string): string[];
  /** Lets the held call for this key answer (before or after it arrives). */
  release(key: string): void;
  close(): Promise<void>;
}

async function startCardOrigin(): Promise<CardOrigin> {
  const executions = new Map<string, number>();
  const attempts = new Map<string, string[]>();
  const gates = new Map<string, { open: Promise<void>; release: () => void }>();
  const gate = (key: string) => {
    let g = gates.get(key);
    if (g === undefined) {
      let release: () => void = () => undefined;
      const open = new Promise<void>((resolve) => (release = resolve));
      g = { open, release };
      gates.set(key, g);
    }
    return g;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const key = String(req.headers["idempotency-key"] ?? "");
      if (req.method !== "POST" || req.url !== "/v1/cards" || key === "") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "Not found", debugging_request_id: randomUUID() }));
        return;
      }
      attempts.set(key, [
        ...(attempts.get(key) ?? []),
        String(req.headers["x-stainless-retry-count"]),
      ]);
      // The card exists from here on: what follows is only the answer's way back.
      executions.set(key, (executions.get(key) ?? 0) + 1);
      const params = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { type: string };
      const card = {
        token: randomUUID(),
        account_token: randomUUID(),
        card_program_token: randomUUID(),
        created: new Date().toISOString(),
        funding: null,
        last_four: "4242",
        pin_status: "NOT_SET",
        spend_limit: 0,
        spend_limit_duration: "FOREVER",
        state: "OPEN",
        type: params.type,
      };
      res.on("error", () => undefined);
      void gate(key).open.then(() => {
        if (!res.destroyed)
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(card));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    executions: (key) => executions.get(key) ?? 0,
    attempts: (key) => attempts.get(key) ?? [],
    release: (key) => gate(key).release(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const g of gates.values()) g.release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the SDK's transport saw of one attempt. */
interface Attempt {
  retryCount: string | null;
  status?: number;
  retryAfter?: string | null;
  replayed?: string | null;
  failed?: boolean;
}

/**
 * The platform's `fetch`, watched: the SDK's documented `fetch` option, passing every attempt on
 * unchanged, so the test can see each attempt and act when one ends (`onEnd`).
 */
function watchedFetch(seen: Attempt[], onEnd: (attempt: Attempt) => void): typeof fetch {
  return async (input, init) => {
    const attempt: Attempt = {
      retryCount: new Headers(init?.headers).get("x-stainless-retry-count"),
    };
    seen.push(attempt);
    try {
      const response = await fetch(input, init);
      attempt.status = response.status;
      attempt.retryAfter = response.headers.get("retry-after");
      attempt.replayed = response.headers.get("idempotent-replayed");
      return response;
    } catch (error) {
      attempt.failed = true;
      throw error;
    } finally {
      onEnd(attempt);
    }
  };
}

const ORIGIN_TIMEOUT_MS = 5000;
/** The SDK's per-attempt timeout: shorter than the held first call, so its answer is lost. */
const SDK_TIMEOUT_MS = 1500;

let origin: CardOrigin;
let waiting: WranglerDev;
let rejecting: WranglerDev;

beforeAll(async () => {
  origin = await startCardOrigin();
  [waiting, rejecting] = (await startGateways([
    startGateway(origin.url),
    startGateway(origin.url, {
      IDEMPOTENCY_CONCURRENCY: "reject",
      IDEMPOTENCY_ORIGIN_TIMEOUT_MS: String(ORIGIN_TIMEOUT_MS),
    }),
  ])) as [WranglerDev, WranglerDev];
});

afterAll(async () => {
  await Promise.all([waiting, rejecting].map((g) => g?.stop()));
  await origin?.close();
});

describe("Lithic's generated SDK through the gateway (wrangler dev)", () => {
  it("gets the created card from its own retry after a lost answer, and the origin creates it once", async () => {
    const key = randomUUID();
    const seen: Attempt[] = [];
    const client = new Lithic({
      apiKey: "sk_test_lithic",
      baseURL: waiting.url,
      maxRetries: 2,
      timeout: SDK_TIMEOUT_MS,
      logLevel: "off",
      // The first attempt was cut off by the SDK: now let the origin's answer go to the gateway.
      fetch: watchedFetch(seen, (attempt) => {
        if (attempt.failed === true) origin.release(key);
      }),
    });
    const { data: card, response } = await client.cards
      .create({ type: "VIRTUAL", "Idempotency-Key": key })
      .withResponse();
    expect(card.type).toBe("VIRTUAL");
    expect(card.last_four).toBe("4242");
    expect(origin.executions(key)).toBe(1);
    expect(origin.attempts(key)).toEqual(["0"]);
    expect(seen.map((a) => a.retryCount)).toEqual(["0", "1"]);
    expect(seen[0]?.failed).toBe(true);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
  });

  it("sleeps on the in-progress 409's Retry-After, which ends when the first call's outcome is due, then gets the card", async () => {
    const key = randomUUID();
    const seen: Attempt[] = [];
    const client = new Lithic({
      apiKey: "sk_test_lithic",
      baseURL: rejecting.url,
      maxRetries: 3,
      timeout: SDK_TIMEOUT_MS,
      logLevel: "off",
      // The gateway refused the retry while the first call ran: now let that call finish.
      fetch: watchedFetch(seen, (attempt) => {
        if (attempt.status === 409) origin.release(key);
      }),
    });
    const card = await client.cards.create({ type: "SINGLE_USE", "Idempotency-Key": key });
    expect(card.type).toBe("SINGLE_USE");
    expect(origin.executions(key)).toBe(1);
    expect(seen.map((a) => a.retryCount)).toEqual(["0", "1", "2"]);
    const [, refused, replayed] = seen;
    expect(refused?.status).toBe(409);
    // The first call started at least one SDK timeout before: less than a whole origin timeout is left.
    const seconds = Number(refused?.retryAfter);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThan(ORIGIN_TIMEOUT_MS / 1000);
    expect(replayed?.status).toBe(200);
    expect(replayed?.replayed).toBe("true");
  });
});
