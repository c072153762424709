import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";
import type { KeySpec } from "./plan.ts";

/**
 * The soak's HTTP client: plain `node:http` over a keep-alive agent (cheaper per request than
 * fetch, so the load generator takes less of the machine from the gateway), one POST per call,
 * and every answer reduced to what the checks compare.
 */

/** One answer a client got (or the error it got instead). */
export interface Answer {
  key: number;
  /** "main" traffic, or the one re-send per key after all traffic ("final"). */
  phase: "main" | "final";
  /** performance.now() when the request was started and when its answer was complete. */
  startedAt: number;
  endedAt: number;
  /** 0 when the client got no HTTP answer. */
  status: number;
  /** `Idempotent-Replayed: true`. */
  replayed: boolean;
  /** `code` of an application/problem+json body, else undefined. */
  code?: string;
  contentType?: string;
  /** sha256 of the body bytes (hex). */
  bodyHash: string;
  /** The start of the body, for violation reports. */
  bodyHead: string;
  /** The origin's x-charge header, when present. */
  charge?: string;
  /** A network error at the client (reset, timeout…). */
  error?: string;
}

export interface Client {
  send(spec: KeySpec, phase: Answer["phase"]): Promise<Answer>;
  /** Aborts every request in flight (Ctrl+C). */
  abortAll(): void;
  close(): void;
}

/** Creates a client for the gateway at `baseUrl`. */
export function createClient(baseUrl: string, maxSockets: number, timeoutMs: number): Client {
  const base = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 1000 });
  const inflight = new Set<http.ClientRequest>();

  const send = (spec: KeySpec, phase: Answer["phase"]): Promise<Answer> =>
    new Promise((resolve) => {
      const startedAt = performance.now();
      const body = Buffer.from(spec.body);
      let settled = false;
      const fail = (error: string) => {
        if (settled) return;
        settled = true;
        resolve({
          key: spec.index,
          phase,
          startedAt,
          endedAt: performance.now(),
          status: 0,
          replayed: false,
          bodyHash: "",
          bodyHead: "",
          error,
        });
      };
      const req = http.request(
        {
          agent,
          host: base.hostname,
          port: base.port,
          method: "POST",
          path: spec.path,
          headers: {
            authorization: spec.authorization,
            "content-type": "application/json",
            "content-length": String(body.byteLength),
            "idempotency-key": spec.key,
          },
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (part: Buffer) => parts.push(part));
          res.on("error", (error) => fail(`response: ${error.message}`));
          res.on("aborted", () => fail("response aborted"));
          res.on("end", () => {
            if (settled) return;
            settled = true;
            inflight.delete(req);
            const bytes = Buffer.concat(parts);
            const contentType = res.headers["content-type"];
            const answer: Answer = {
              key: spec.index,
              phase,
              startedAt,
              endedAt: performance.now(),
              status: res.statusCode ?? 0,
              replayed: res.headers["idempotent-replayed"] === "true",
              bodyHash: createHash("sha256").update(bytes).digest("hex"),
              bodyHead: bytes.subarray(0, 160).toString("utf8"),
            };
            if (contentType !== undefined) answer.contentType = contentType;
            const charge = res.headers["x-charge"];
            if (typeof charge === "string") answer.charge = charge;
            if (contentType?.startsWith("application/problem+json")) {
              try {
                const parsed = JSON.parse(bytes.toString("utf8")) as { code?: unknown };
                if (typeof parsed.code === "string") answer.code = parsed.code;
              } catch {
                answer.code = "(unparseable problem body)";
              }
            }
            resolve(answer);
          });
        },
      );
      inflight.add(req);
      req.setTimeout(timeoutMs, () => {
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      });
      req.on("error", (error) => {
        inflight.delete(req);
        fail(error.message);
      });
      req.on("close", () => inflight.delete(req));
      req.end(body);
    });

  return {
    send,
    abortAll: () => {
      for (const req of inflight) req.destroy(new Error("aborted by the soak (interrupted)"));
    },
    close: () => agent.destroy(),
  };
}
