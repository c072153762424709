import type { RequestLog } from "./log";

/** Where per-request counters go. Tests pass a spy through the same door. */
export interface Metrics {
  count(line: RequestLog): void;
}

const NO_METRICS: Metrics = { count: () => undefined };

/**
 * Counters in Workers Analytics Engine when a dataset is bound (`METRICS`), a no-op otherwise.
 * One data point per covered request: the outcome is the index (so queries can sample by it),
 * blobs carry outcome and method, doubles carry status, origin status and durations. Nothing
 * that identifies a key or a caller is written.
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
        blobs: [line.outcome, line.method],
        doubles: [line.status, line.originStatus ?? 0, line.gatewayMs, line.originMs ?? 0],
      });
    },
  };
}
