import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real HTTP origin on 127.0.0.1 for the tests and the soak: it records every request it receives
 * and behaves as the path asks, so a test can stage any way an origin answers or fails.
 *
 * Paths (a `/gate/<name>` prefix first holds the request until the test releases that gate):
 * - `/status/<code>`: answers `<code>` with a JSON body;
 * - `/reset`: reads the request, then destroys the connection without answering;
 * - `/truncate`: promises 100 bytes, sends 10, destroys the connection;
 * - `/hang`: reads the request and never answers;
 * - `/stall-body`: sends its status, headers and the first bytes of a body, then nothing more
 *   until the gateway gives up and closes the connection (the origin ends it after
 *   `STALL_LIMIT_MS` at most, so no connection outlives a test run);
 * - `/bytes/<n>`: `n` deterministic pseudo-random bytes (application/octet-stream);
 * - `/redirect`: 302 with a Location;
 * - `/cookies`: 201 with two Set-Cookie fields;
 * - `/cors` and `/cors/any`: an API that lets pages call it (CORS): `/cors` allows the page's own
 *   `Origin` (reflected, with credentials, `Vary: Origin`), `/cors/any` allows `*`; both expose
 *   `X-Charge`, answer a write 201 and a preflight (`OPTIONS`) 204 with its allowed methods and
 *   headers;
 * - `/hop`: 201 with hop-by-hop fields (`Connection: x-hop-secret`, `X-Hop-Secret`, `Keep-Alive`);
 * - `/dedupe` and `/dedupe/<gate>`: a payment API that deduplicates on `Idempotency-Key`, as
 *   Stripe does: the first request with a key executes once (a charge) and its answer is kept;
 *   a duplicate gets that answer again, or, while the first still executes, Stripe's `409`
 *   `idempotency_key_in_use`. With `<gate>`, the first execution waits on that gate (duplicates
 *   never do), so a test can make it finish after the gateway has given up;
 * - anything else: 201 with a JSON "charge" describing the request.
 *
 * Control (never counted): `GET /__control/requests?key=K` lists requests that carried
 * `Idempotency-Key: K` or `X-Marker: K`; `GET /__control/arrivals?gate=G&count=N` answers once N requests wait on
 * gate G; `POST /__control/release?gate=G` lets them through; `GET /__control/executions?key=K`
 * answers `{"executions":N}`, how many times `/dedupe` executed key K (not how many requests).
 */

/** One request as the origin saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | string[] | undefined>;
  bodyBase64: string;
}

/** A running test origin. */
export interface TestOrigin {
  url: string;
  port: number;
  /** Requests seen with this Idempotency-Key (as sent by the gateway). */
  requests(key: string): SeenRequest[];
  /** Resolves once `count` requests wait on `gate`. */
  arrivals(gate: string, count: number): Promise<void>;
  release(gate: string): void;
  /** How many times `/dedupe` executed this key (duplicates it answered are not counted). */
  executions(key: string): number;
  close(): Promise<void>;
}

interface Gate {
  waiting: (() => void)[];
  watchers: { count: number; resolve: () => void }[];
  released: boolean;
}

/** Longest time `/stall-body` keeps a connection open: far past any test's origin timeout. */
export const STALL_LIMIT_MS = 30_000;

/** Deterministic bytes, so a test can recompute what the origin sent. */
export function patternBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Starts the origin on 127.0.0.1.
 *
 * @param port - 0 (default) picks a free port
 */
export async function startTestOrigin(port = 0): Promise<TestOrigin> {
  const seen = new Map<string, SeenRequest[]>();
  const gates = new Map<string, Gate>();
  let charges = 0;
  /** `/dedupe`'s keys: still executing, or the answer kept for duplicates. */
  const deduped = new Map<string, "executing" | { status: number; body: string }>();
  const executions = new Map<string, number>();

  const gate = (name: string): Gate => {
    let g = gates.get(name);
    if (g === undefined) {
      g = { waiting: [], watchers: [], released: false };
      gates.set(name, g);
    }
    return g;
  };
  const notify = (g: Gate) => {
    g.watchers = g.watchers.filter((w) => {
      if (g.waiting.length >= w.count) w.resolve();
      return g.waiting.length < w.count;
    });
  };
  const arrivals = (name: string, count: number) =>
    new Promise<void>((resolve) => {
      const g = gate(name);
      g.watchers.push({ count, resolve });
      notify(g);
    });
  const release = (name: string) => {
    const g = gate(name);
    g.released = true;
    for (const go of g.waiting.splice(0)) go();
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://origin.test");
    const parts: Buffer[] = [];
    req.on("data", (part: Buffer) => parts.push(part));
    req.on("end", () => {
      const body = Buffer.concat(parts);
      if (url.pathname.startsWith("/__control/")) {
        control(url, res);
        return;
      }
      // Recorded under the key it carried, and under its `x-marker` (for requests without one).
      for (const tag of [req.headers["idempotency-key"], req.headers["x-marker"]]) {
        if (typeof tag !== "string") continue;
        const list = seen.get(tag) ?? [];
        list.push({
          method: req.method ?? "",
          path: url.pathname,
          query: url.search.slice(1),
          headers: { ...req.headers },
          bodyBase64: body.toString("base64"),
        });
        seen.set(tag, list);
      }
      const dedupe = /^\/dedupe(?:\/([^/]+))?$/.exec(url.pathname);
      if (dedupe !== null) {
        deduplicate(req.headers["idempotency-key"], dedupe[1], res);
        return;
      }
      const gated = /^\/gate\/([^/]+)(\/.*)?$/.exec(url.pathname);
      if (gated !== null) {
        const g = gate(gated[1] ?? "");
        const go = () => behave(gated[2] ?? "/", req, res, body);
        if (g.released) go();
        else {
          g.waiting.push(go);
          notify(g);
        }
        return;
      }
      behave(url.pathname, req, res, body);
    });
  });

  function deduplicate(
    key: string | string[] | undefined,
    gateName: string | undefined,
    res: http.ServerResponse,
  ) {
    // The gateway may have given up on the answer and closed the connection meanwhile.
    res.on("error", () => {});
    const send = (status: number, body: string) => {
      if (!res.destroyed) res.writeHead(status, { "content-type": "application/json" }).end(body);
    };
    if (typeof key !== "string") {
      send(400, JSON.stringify({ error: { type: "invalid_request_error" } }));
      return;
    }
    const kept = deduped.get(key);
    if (kept === "executing") {
      // Stripe's answer to a request whose key is still being worked on.
      send(
        409,
        JSON.stringify({
          error: {
            type: "idempotency_error",
            code: "idempotency_key_in_use",
            message: "There is currently another in-progress request using this Idempotent Key.",
          },
        }),
      );
      return;
    }
    if (kept !== undefined) {
      send(kept.status, kept.body);
      return;
    }
    deduped.set(key, "executing");
    const execute = () => {
      const count = (executions.get(key) ?? 0) + 1;
      executions.set(key, count);
      const answer = { status: 201, body: JSON.stringify({ charge: ++charges, key }) };
      deduped.set(key, answer);
      send(answer.status, answer.body);
    };
    if (gateName === undefined) {
      execute();
      return;
    }
    const g = gate(gateName);
    if (g.released) execute();
    else {
      g.waiting.push(execute);
      notify(g);
    }
  }

  function control(url: URL, res: http.ServerResponse) {
    const name = url.searchParams.get("gate") ?? "";
    if (url.pathname === "/__control/requests") {
      const list = seen.get(url.searchParams.get("key") ?? "") ?? [];
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(list));
    } else if (url.pathname === "/__control/arrivals") {
      void arrivals(name, Number(url.searchParams.get("count") ?? "1")).then(() =>
        res.writeHead(204).end(),
      );
    } else if (url.pathname === "/__control/executions") {
      const count = executions.get(url.searchParams.get("key") ?? "") ?? 0;
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ executions: count }));
    } else if (url.pathname === "/__control/release") {
      release(name);
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  }

  function behave(path: string, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
    const status = /^\/status\/(\d{3})/.exec(path);
    const bytes = /^\/bytes\/(\d+)/.exec(path);
    if (status !== null) {
      res
        .writeHead(Number(status[1]), { "content-type": "application/json" })
        .end(JSON.stringify({ status: Number(status[1]), charge: ++charges }));
    } else if (path === "/reset") {
      req.socket.destroy();
    } else if (path === "/truncate") {
      res.writeHead(200, { "content-length": "100" });
      res.write("0123456789");
      setImmediate(() => req.socket.destroy());
    } else if (path === "/hang") {
      // Never answers: the gateway's origin timeout decides.
    } else if (path === "/stall-body") {
      // The answer has begun (status and headers are out), but its body never ends: only a
      // deadline that covers the body, not just the headers, can decide.
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"charge":');
      const limit = setTimeout(() => req.socket.destroy(), STALL_LIMIT_MS);
      limit.unref();
      req.socket.once("close", () => clearTimeout(limit));
    } else if (bytes !== null) {
      res
        .writeHead(200, { "content-type": "application/octet-stream" })
        .end(Buffer.from(patternBytes(Number(bytes[1]))));
    } else if (path === "/redirect") {
      res.writeHead(302, { location: "https://example.com/elsewhere" }).end();
    } else if (path === "/hop") {
      res
        .writeHead(201, {
          connection: "keep-alive, x-hop-secret",
          "keep-alive": "timeout=5",
          "x-hop-secret": "per-connection",
          "x-end-to-end": "kept",
        })
        .end("hop");
    } else if (path === "/cors" || path === "/cors/any") {
      const page = req.headers.origin;
      const allow = path === "/cors/any" ? "*" : typeof page === "string" ? page : null;
      const cors: Record<string, string> =
        allow === null
          ? {}
          : { "access-control-allow-origin": allow, "access-control-expose-headers": "X-Charge" };
      if (allow !== null && allow !== "*") {
        cors["access-control-allow-credentials"] = "true";
        cors.vary = "Origin";
      }
      if (req.method === "OPTIONS") {
        res
          .writeHead(204, {
            ...cors,
            "access-control-allow-methods": "POST",
            "access-control-allow-headers": "authorization, content-type, idempotency-key",
            "access-control-max-age": "600",
          })
          .end();
      } else {
        const charge = ++charges;
        res
          .writeHead(201, {
            ...cors,
            "content-type": "application/json",
            "x-charge": String(charge),
          })
          .end(JSON.stringify({ charge }));
      }
    } else if (path === "/cookies") {
      res
        .writeHead(201, { "set-cookie": ["a=1; Path=/", "b=2; Path=/"], "x-origin": "cookies" })
        .end("cookies");
    } else {
      const charge = ++charges;
      res.writeHead(201, { "content-type": "application/json", "x-charge": String(charge) }).end(
        JSON.stringify({
          charge,
          method: req.method,
          path,
          bodySha256: createHash("sha256").update(body).digest("hex"),
        }),
      );
    }
  }

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    port: actualPort,
    requests: (key) => seen.get(key) ?? [],
    arrivals,
    release,
    executions: (key) => executions.get(key) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const g of gates.values()) g.released = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
