import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The benchmark's origin, forked by bench/targets.ts (`startOrigin`) so that it never shares an
 * event loop with the load generator. Every request waits the latency (`process.argv[2]` ms),
 * then answers `201` with a small JSON payment, and is counted under its `Idempotency-Key`.
 *
 * Over the IPC channel it first sends `{ port }`, then answers each {@link OriginControl} with an
 * {@link OriginState}. It exits when the channel closes (its parent is gone) or on SIGTERM.
 */

/** A control message: set the latency, clear the counts, ask for one key's count. */
export interface OriginControl {
  latencyMs?: number;
  reset?: boolean;
  count?: string;
}

/** The answer: requests since the last reset, distinct keys among them, the asked key's count. */
export interface OriginState {
  total: number;
  keys: number;
  count: number;
}

/** Distinct keys counted at most (the growth scenario sends ~100k); past it only `total` grows. */
const MAX_TRACKED_KEYS = 2_000_000;

let latencyMs = Number(process.argv[2] ?? "20");
let total = 0;
let sequence = 0;
const counts = new Map<string, number>();

const server = http.createServer((req, res) => {
  const key = req.headers["idempotency-key"];
  total++;
  if (typeof key === "string" && (counts.has(key) || counts.size < MAX_TRACKED_KEYS)) {
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let bytes = 0;
  req.on("data", (chunk: Buffer) => (bytes += chunk.byteLength));
  req.on("end", () => {
    const payment = JSON.stringify({
      id: `pay_${process.pid}_${++sequence}`,
      object: "payment",
      amount: 1000,
      currency: "usd",
      status: "succeeded",
      idempotency_key: key ?? null,
      request_bytes: bytes,
      created: Math.floor(Date.now() / 1000),
    });
    setTimeout(
      () => res.writeHead(201, { "content-type": "application/json" }).end(payment),
      latencyMs,
    );
  });
});
// Workers keep their connections to the origin open between requests.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(0, "127.0.0.1", () =>
  process.send?.({ port: (server.address() as AddressInfo).port }),
);

process.on("message", (message: OriginControl) => {
  if (message.latencyMs !== undefined) latencyMs = message.latencyMs;
  if (message.reset === true) {
    counts.clear();
    total = 0;
  }
  const state: OriginState = {
    total,
    keys: counts.size,
    count: counts.get(message.count ?? "") ?? 0,
  };
  process.send?.(state);
});

function shutdown(): void {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
}
process.on("SIGTERM", shutdown);
process.on("disconnect", shutdown);
