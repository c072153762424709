import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A tiny payment API for the quick start: it charges on every POST it receives and says so on
 * the console, so a reader can watch the gateway forward a key exactly once.
 *
 * - `POST /v1/payments` `{ "amount": 1000, "currency": "usd" }` → `201` payment
 * - `GET /v1/payments/:id` → `200` payment or `404`
 */

interface Payment {
  id: string;
  object: "payment";
  amount: number;
  currency: string;
  status: "succeeded";
  idempotency_key: string | null;
  created: number;
}

/** Starts the demo API on 127.0.0.1:`port` and resolves with its URL and a `close`. */
export async function startDemoPaymentApi(port: number, log: (line: string) => void = console.log) {
  const payments = new Map<string, Payment>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://demo");
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.method === "POST" && url.pathname === "/v1/payments") {
        let input: { amount?: unknown; currency?: unknown };
        try {
          input = JSON.parse(Buffer.concat(chunks).toString() || "{}") as typeof input;
        } catch {
          return send(400, {
            error: { type: "invalid_request_error", message: "Body must be JSON." },
          });
        }
        const { amount, currency } = input;
        if (!Number.isInteger(amount) || (amount as number) <= 0) {
          return send(400, {
            error: { type: "invalid_request_error", message: "amount must be a positive integer." },
          });
        }
        if (typeof currency !== "string" || !/^[a-z]{3}$/.test(currency)) {
          return send(400, {
            error: {
              type: "invalid_request_error",
              message: "currency must be a 3-letter ISO code.",
            },
          });
        }
        const key = req.headers["idempotency-key"];
        const payment: Payment = {
          id: `pay_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
          object: "payment",
          amount: amount as number,
          currency,
          status: "succeeded",
          idempotency_key: typeof key === "string" ? key : null,
          created: Math.floor(Date.now() / 1000),
        };
        payments.set(payment.id, payment);
        const keyNote = payment.idempotency_key === null ? " (no Idempotency-Key)" : "";
        log(
          `[demo-payment-api] charged ${payment.amount} ${payment.currency} as ${payment.id}${keyNote}`,
        );
        return send(201, payment);
      }
      const found = /^\/v1\/payments\/([\w-]+)$/.exec(url.pathname);
      if (req.method === "GET" && found !== null) {
        const payment = payments.get(found[1] ?? "");
        return payment === undefined
          ? send(404, { error: { type: "invalid_request_error", message: "No such payment." } })
          : send(200, payment);
      }
      return send(404, { error: { type: "invalid_request_error", message: "Not found." } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
