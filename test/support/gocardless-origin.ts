import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback origin that answers as GoCardless's API does for payments, for driving GoCardless's
 * official SDK (`gocardless-nodejs`) through the gateway:
 *
 * - `POST /payments` `{"payments": {...}}` with `Idempotency-Key` creates a payment:
 *   `201 {"payments": {...}}`. A key it has already created with is answered as GoCardless
 *   documents: `409` `invalid_state`, reason `idempotent_creation_conflict`, with
 *   `links.conflicting_resource_id` (https://gocardless.com/blog/idempotency-keys/).
 * - `GET /payments/:id`: `200 {"payments": {...}}`, or `404` `invalid_api_usage` `not_found`.
 * - `failNextCreate()`: the next create is made, and then answered `500` `gocardless`
 *   `internal_server_error`, the case GoCardless's idempotency keys exist for ("what if
 *   something goes wrong our end and we issue a 500 response?").
 */
export interface GoCardlessOrigin {
  readonly url: string;
  /** How many payments were created with `key`: the executions the gateway must keep to one. */
  creations(key: string): number;
  /** Every request received, in order: method, path and `Idempotency-Key`. */
  readonly requests: readonly { method: string; path: string; key: string | null }[];
  failNextCreate(): void;
  close(): Promise<void>;
}

interface Payment {
  id: string;
  amount: number;
  currency: string;
  status: string;
  links: Record<string, string>;
}

/** The error object GoCardless answers with (API reference, "Errors"). */
function gcError(
  code: number,
  type: string,
  reason: string,
  message: string,
  links?: Record<string, string>,
) {
  return {
    error: {
      message,
      errors: [{ reason, message, ...(links === undefined ? {} : { links }) }],
      documentation_url: `https://developer.gocardless.com/api-reference#${reason}`,
      type,
      request_id: `req_${code}`,
      code,
    },
  };
}

/** Starts the origin on a free loopback port. */
export async function startGoCardlessOrigin(): Promise<GoCardlessOrigin> {
  const byId = new Map<string, Payment>();
  const byKey = new Map<string, Payment>();
  const created = new Map<string, number>();
  const requests: { method: string; path: string; key: string | null }[] = [];
  let failNext = false;
  let next = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://origin").pathname;
      const header = req.headers["idempotency-key"];
      const key = typeof header === "string" ? header : null;
      requests.push({ method: req.method ?? "", path, key });
      const send = (status: number, body: unknown) =>
        res
          .writeHead(status, {
            "content-type": "application/json",
            "x-request-id": `req_${status}`,
          })
          .end(JSON.stringify(body));

      if (req.method === "POST" && path === "/payments") {
        const existing = key === null ? undefined : byKey.get(key);
        if (existing !== undefined) {
          return send(
            409,
            gcError(
              409,
              "invalid_state",
              "idempotent_creation_conflict",
              "A resource has already been created with this idempotency key",
              { conflicting_resource_id: existing.id },
            ),
          );
        }
        const input = (
          JSON.parse(Buffer.concat(chunks).toString() || "{}") as {
            payments?: { amount?: number; currency?: string; links?: Record<string, string> };
          }
        ).payments;
        const payment: Payment = {
          id: `PM${String(++next).padStart(6, "0")}`,
          amount: input?.amount ?? 0,
          currency: input?.currency ?? "GBP",
          status: "pending_submission",
          links: input?.links ?? {},
        };
        byId.set(payment.id, payment);
        if (key !== null) {
          byKey.set(key, payment);
          created.set(key, (created.get(key) ?? 0) + 1);
        }
        if (failNext) {
          failNext = false;
          return send(
            500,
            gcError(500, "gocardless", "internal_server_error", "Internal server error"),
          );
        }
        return send(201, { payments: payment });
      }
      const found = /^\/payments\/(\w+)$/.exec(path);
      if (req.method === "GET" && found !== null) {
        const payment = byId.get(found[1] ?? "");
        return payment === undefined
          ? send(404, gcError(404, "invalid_api_usage", "not_found", "Resource not found"))
          : send(200, { payments: payment });
      }
      return send(404, gcError(404, "invalid_api_usage", "not_found", "Resource not found"));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    creations: (key) => created.get(key) ?? 0,
    requests,
    failNextCreate: () => {
      failNext = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
