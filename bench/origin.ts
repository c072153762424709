import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The benchmark's origin: a real Node HTTP server on 127.0.0.1, run as its own process by
 * `bench/run.ts` so that it never shares an event loop with the load generator.
 *
 * Every request outside `/__control/` waits `latency` ms, then answers `201` with a small JSON
 * payment, and is counted under its `Idempotency-Key` (exactly: the contention check reads it).
 *
 * Control (never counted, never delayed):
 * - `GET /__control/count?key=K` → `{ "count": n }` requests that carried `Idempotency-Key: K`;
 * - `GET /__control/stats` → `{ "total": n, "keys": n }`;
 * - `POST /__control/latency?ms=N` sets the latency; `POST /__control/reset` clears the counts.
 *
 * Started as `node bench/origin.ts [latencyMs]`; prints `{"port":N}` on its first stdout line
 * and exits when its parent closes stdin or on SIGTERM.
 */

/** Distinct keys remembered at most (the growth scenario sends ~100k); past it only `total`. */
const MAX_TRACKED_KEYS = 2_000_000;

let latencyMs = Number(process.argv[2] ?? "20");
let total = 0;
let untracked = 0;
let sequence = 0;
const counts = new Map<string, number>();

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function control(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
  switch (`${req.method} ${url.pathname}`) {
    case "GET /__control/count":
      return json(res, 200, { count: counts.get(url.searchParams.get("key") ?? "") ?? 0 });
    case "GET /__control/stats":
      return json(res, 200, { total, keys: counts.size, untracked, latencyMs });
    case "POST /__control/latency": {
      const ms = Number(url.searchParams.get("ms"));
      if (!Number.isInteger(ms) || ms < 0 || ms > 60_000) return json(res, 400, { error: "ms" });
      latencyMs = ms;
      return json(res, 200, { latencyMs });
    }
    case "POST /__control/reset":
      counts.clear();
      total = 0;
      untracked = 0;
      return json(res, 200, { ok: true });
    default:
      return json(res, 404, { error: "no such control" });
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://origin");
  if (url.pathname.startsWith("/__control/")) {
    req.resume();
    req.on("end", () => control(req, res, url));
    return;
  }
  const header = req.headers["idempotency-key"];
  const key = typeof header === "string" ? header : null;
  total++;
  if (key !== null) {
    const seen = counts.get(key);
    if (seen !== undefined) counts.set(key, seen + 1);
    else if (counts.size < MAX_TRACKED_KEYS) counts.set(key, 1);
    else untracked++;
  }
  let bytes = 0;
  req.on("data", (chunk: Buffer) => (bytes += chunk.byteLength));
  req.on("end", () => {
    const id = `pay_${process.pid}_${++sequence}`;
    const answer = () =>
      json(res, 201, {
        id,
        object: "payment",
        amount: 1000,
        currency: "usd",
        status: "succeeded",
        idempotency_key: key,
        request_bytes: bytes,
        created: Math.floor(Date.now() / 1000),
      });
    if (latencyMs === 0) answer();
    else setTimeout(answer, latencyMs);
  });
});
// Workers keep connections to the origin open between requests.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});

const shutdown = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
// The parent holds our stdin open: when it goes (even by a crash), so do we.
process.stdin.on("end", shutdown);
process.stdin.on("close", shutdown);
process.stdin.resume();
