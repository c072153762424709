import { randomUUID } from "node:crypto";
import https from "node:https";
import net from "node:net";
import gocardless from "gocardless-nodejs";
import { Environments } from "gocardless-nodejs/constants";
import { GoCardlessInternalError, InvalidStateError } from "gocardless-nodejs/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WranglerDev } from "../../harness/wrangler-dev.ts";
import { startGoCardlessOrigin, type GoCardlessOrigin } from "../support/gocardless-origin.ts";
import { startGateway } from "./harness";

/**
 * GoCardless's official Node SDK (`gocardless-nodejs`) driven through the gateway under
 * `wrangler dev`, configured as docs/providers.md's GoCardless section says, in front of a
 * loopback origin that answers in GoCardless's API shape (test/support/gocardless-origin.ts).
 *
 * The SDK only knows GoCardless's own hosts; its documented `proxy` option (the HTTP agents it
 * hands to `got`) takes an agent whose connections go to a loopback relay in front of the
 * gateway instead. The relay can lose an answer: it cuts the connection at the first byte the
 * gateway sends back, after the origin has executed the request.
 */

/** The gateway's settings for GoCardless (docs/providers.md, "GoCardless"). */
const GOCARDLESS_VARS = {
  IDEMPOTENCY_METHODS: "POST",
  IDEMPOTENCY_ERROR_DIALECT: "gocardless",
  IDEMPOTENCY_RETRY_STATUSES: "429,5xx",
};

/** A loopback TCP relay to the gateway that can drop the next answer. */
interface Relay {
  readonly port: number;
  /** Connections accepted so far: one per SDK request (the agent does not keep them alive). */
  readonly connections: number;
  /** The next connection's answer never reaches the client: cut at its first byte. */
  loseNextAnswer(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  let lose = false;
  let connections = 0;
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(targetPort, "127.0.0.1");
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream);
    if (lose) {
      lose = false;
      upstream.once("data", () => {
        client.destroy();
        upstream.destroy();
      });
    } else {
      upstream.pipe(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    loseNextAnswer: () => {
      lose = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * An `https` agent whose connections are plain TCP to the relay: the SDK addresses
 * `https://api-sandbox.gocardless.com`, and the request travels as HTTP/1.1 to the gateway.
 */
class ToRelay extends https.Agent {
  constructor(private readonly port: number) {
    super({ keepAlive: false });
  }

  override createConnection(): net.Socket {
    return net.connect(this.port, "127.0.0.1");
  }
}

let origin: GoCardlessOrigin;
let gateway: WranglerDev;
let relay: Relay;
let client: ReturnType<typeof gocardless>;

beforeAll(async () => {
  origin = await startGoCardlessOrigin();
  gateway = await startGateway(origin.url, GOCARDLESS_VARS);
  relay = await startRelay(gateway.port);
  client = gocardless("sandbox_token_e2e", Environments.Sandbox, {
    proxy: { https: new ToRelay(relay.port) },
  });
});

afterAll(async () => {
  await relay?.close();
  await gateway?.stop();
  await origin?.close();
});

const PAYMENT = { amount: 1000, currency: "GBP", links: { mandate: "MD000123" } } as const;

/** How many requests with `key` reached the origin. */
function originCalls(key: string): number {
  return origin.requests.filter((request) => request.key === key).length;
}

describe("GoCardless's Node SDK through the gateway", () => {
  it("creates one payment when a create's answer is lost: the SDK raises without retrying the POST itself, and its call again with the same key is replayed", async () => {
    const key = randomUUID();
    relay.loseNextAnswer();
    const before = relay.connections;
    const lost = await client.payments.create({ ...PAYMENT }, key).catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(Error);
    expect(lost).not.toBeInstanceOf(GoCardlessInternalError);
    // `got`'s retry methods leave out POST: one attempt, whatever happened to its answer.
    expect(relay.connections - before).toBe(1);
    expect(origin.creations(key)).toBe(1);

    const payment = await client.payments.create({ ...PAYMENT }, key);
    expect(payment.id).toMatch(/^PM\d{6}$/);
    // The SDK keeps the HTTP answer beside the resource; its type says only `object`.
    const { headers } = payment.__response__ as { headers: Record<string, string> };
    expect(headers["idempotent-replayed"]).toBe("true");
    expect(origin.creations(key)).toBe(1);
    expect(originCalls(key)).toBe(1);
  });

  it("follows GoCardless's own 409 idempotent_creation_conflict with the SDK's GET through the gateway: after a released 500, the retry gets the one payment", async () => {
    const key = randomUUID();
    origin.failNextCreate();
    const failed = await client.payments
      .create({ ...PAYMENT }, key)
      .catch((error: unknown) => error);
    // The origin's own 500, passed through unchanged, in the SDK's class for it.
    expect(failed).toBeInstanceOf(GoCardlessInternalError);
    expect(origin.creations(key)).toBe(1);

    // The 500 released the key (IDEMPOTENCY_RETRY_STATUSES=429,5xx): the retry reaches the origin,
    // which answers 409 with the payment's id; the SDK fetches that payment through the gateway.
    const payment = await client.payments.create({ ...PAYMENT }, key);
    expect(origin.creations(key)).toBe(1);
    expect(payment.id).toMatch(/^PM\d{6}$/);
    expect(payment.amount).toBe(PAYMENT.amount);
    const fetched = origin.requests.filter(
      (r) => r.method === "GET" && r.path === `/payments/${payment.id}`,
    );
    expect(fetched).toHaveLength(1);

    // Once more: the stored 409 is replayed, and the SDK fetches the same payment again.
    const again = await client.payments.create({ ...PAYMENT }, key);
    expect(again.id).toBe(payment.id);
    expect(originCalls(key)).toBe(2);
    expect(origin.creations(key)).toBe(1);
  });

  it("raises the SDK's own InvalidStateError, with the gateway's explanation, for a key reused with other parameters, and forwards nothing", async () => {
    const key = randomUUID();
    await client.payments.create({ ...PAYMENT }, key);
    const reused = await client.payments
      .create({ ...PAYMENT, amount: 2000 }, key)
      .catch((error: unknown) => error);
    if (!(reused instanceof InvalidStateError)) throw new Error(`raised ${String(reused)}`);
    expect(reused.code).toBe(422);
    expect(reused.message).toContain("already used");
    expect(reused.errors).toEqual([{ reason: "idempotency_key_reused", message: reused.message }]);
    expect(originCalls(key)).toBe(1);
  });

  it("makes two creates sent at once with one key one payment", async () => {
    const key = randomUUID();
    const [a, b] = await Promise.all([
      client.payments.create({ ...PAYMENT }, key),
      client.payments.create({ ...PAYMENT }, key),
    ]);
    expect(a.id).toBe(b.id);
    expect(origin.creations(key)).toBe(1);
    expect(originCalls(key)).toBe(1);
  });
});
