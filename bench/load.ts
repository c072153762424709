import autocannon from "autocannon";

/**
 * One load cell: autocannon against one target for a fixed time (or a fixed number of requests),
 * with an `Idempotency-Key` chosen per request. Latencies are kept in full, in fractional
 * milliseconds, because autocannon's own histogram rounds to whole milliseconds and the targets
 * are about differences of 1–2 ms.
 */

/** The covered request every scenario sends (the key is added per request). */
export const REQUEST = {
  method: "POST" as const,
  path: "/v1/payments",
  headers: {
    authorization: "Bearer sk_test_bench",
    "content-type": "application/json",
  },
  body: '{"amount":1000,"currency":"usd","description":"benchmark"}',
};

/** What one cell measured. */
export interface LoadResult {
  /** Seconds the load actually ran. */
  seconds: number;
  /** Responses with a 2xx status. */
  ok: number;
  /** 2xx responses per second. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Non-2xx answers + socket errors + timeouts. */
  errors: number;
  non2xx: number;
  statusCounts: Record<string, number>;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Run this long (seconds) … */
  durationS?: number;
  /** … or send this many requests. */
  amount?: number;
  /** Hard stop (seconds), whatever else happens. */
  maxS: number;
  /** The Idempotency-Key of the next request. */
  nextKey: () => string;
}

/** Percentile (nearest rank) of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Runs one cell and resolves with its numbers. Never runs past `maxS`. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { url, connections, durationS, amount, maxS, nextKey } = options;
  let latencies = new Float64Array(16_384);
  let okCount = 0;
  let non2xx = 0;
  const statusCounts: Record<string, number> = {};

  return new Promise((resolve, reject) => {
    const started = performance.now();
    const instance = autocannon(
      {
        url: url + REQUEST.path,
        method: REQUEST.method,
        headers: REQUEST.headers,
        body: REQUEST.body,
        connections,
        ...(amount !== undefined ? { amount } : { duration: durationS ?? 1 }),
        timeout: 30,
        requests: [
          {
            setupRequest: (request) => {
              request.headers = { ...request.headers, "idempotency-key": nextKey() };
              return request;
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(hardStop);
        if (error) {
          reject(error);
          return;
        }
        const seconds = (performance.now() - started) / 1000;
        const sorted = latencies.subarray(0, okCount).sort();
        const socketErrors = result.errors + result.timeouts;
        resolve({
          seconds,
          ok: okCount,
          rps: okCount / seconds,
          p50: percentile(sorted, 50),
          p90: percentile(sorted, 90),
          p99: percentile(sorted, 99),
          max: sorted.length > 0 ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
          errors: non2xx + socketErrors,
          non2xx,
          statusCounts,
        });
      },
    );
    const hardStop = setTimeout(() => instance.stop(), maxS * 1000);
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      const status = String(statusCode);
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
      if (statusCode < 200 || statusCode > 299) {
        non2xx++;
        return;
      }
      if (okCount === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[okCount++] = responseTime;
    });
  });
}
