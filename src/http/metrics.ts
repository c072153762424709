import type { RequestLog } from "./log";

/** One admin action, for counting: which endpoint, what came of it, the HTTP status. */
export interface AdminCount {
  action: "list" | "lookup" | "purge" | "resolve" | "storage";
  /** e.g. `purged`, `resolved`, `not-found`, `unauthorized`, `invalid`. */
  result: string;
  status: number;
}

/** Where per-request counters go. Tests pass a spy through the same door. */
export interface Metrics {
  count(line: RequestLog): void;
  /** Counts one call of the admin key endpoints (docs/operations.md, "Operating it"). */
  countAdmin(event: AdminCount): void;
}

const NO_METRICS: Metrics = { count: () => undefined, countAdmin: () => undefined };

/**
 * Counters in Workers Analytics Engine when a dataset is bound (`METRICS`), a no-op otherwise.
 * One data point per covered request: the outcome is the index (so queries can sample by it),
 * blobs carry outcome, method and (for `busy`) the bound that was met, doubles carry status, origin status and durations. One data
 * point per admin call: the index is `admin`, blobs carry `admin`, the action and its result, the
 * double is the status. One more data point per origin probe a request carried (docs/adr/0005):
 * the index is `probe`, blobs carry `probe` and its result (`reachable`, `unreachable`,
 * `inconclusive` for a timeout), the double is its duration. Nothing that identifies a key, a
 * caller or an operator is written.
 *
 * @example
 * metricsFor(env.METRICS).count({ outcome: "replayed", method: "POST", status: 201, gatewayMs: 1 });
 */
export function metricsFor(dataset: AnalyticsEngineDataset | undefined): Metrics {
  if (dataset === undefined) return NO_METRICS;
  return {
    count(line) {
      // Not awaited and not passed to waitUntil: writeDataPoint is fire-and-forget by design.
      dataset.writeDataPoint({
        indexes: [line.outcome],
        blobs:
          line.reason === undefined
            ? [line.outcome, line.method]
            : [line.outcome, line.method, line.reason],
        doubles: [line.status, line.originStatus ?? 0, line.gatewayMs, line.originMs ?? 0],
      });
      if (line.probe !== undefined) {
        dataset.writeDataPoint({
          indexes: ["probe"],
          blobs: ["probe", line.probe],
          doubles: [line.probeMs ?? 0],
        });
      }
    },
    countAdmin(event) {
      dataset.writeDataPoint({
        indexes: ["admin"],
        blobs: ["admin", event.action, event.result],
        doubles: [event.status],
      });
    },
  };
}
