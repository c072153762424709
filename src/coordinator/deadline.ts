import type { Policy } from "./protocol";
import { PROBE_TIMEOUT_MS } from "./origin-probe";
import { REGISTRY_TIMEOUT_MS } from "./mapping-verdicts";

/**
 * Time the coordinator may take beyond the longest wait its own rules allow: storage, the RPC
 * hops, a migration's redirect.
 */
export const COORDINATOR_MARGIN_MS = 2_000;

/**
 * How long the Worker waits for the coordinator's reply to one command: the longest the
 * coordinator may legitimately take — the registry's answer, a probe and the origin call for a
 * first request, or a duplicate's wait — plus a margin. Past it the Worker answers
 * `504 origin-outcome-unknown` without storing anything, and the coordinator, which owns the
 * key, settles it for the client's retry (docs/security.md, "Bounds").
 *
 * @example
 * coordinatorDeadlineMs({ originTimeoutMs: 30_000, waitMs: 10_000 }); // 37_000
 */
export function coordinatorDeadlineMs(policy: Pick<Policy, "originTimeoutMs" | "waitMs">): number {
  const first = REGISTRY_TIMEOUT_MS + PROBE_TIMEOUT_MS + policy.originTimeoutMs;
  return Math.max(first, policy.waitMs) + COORDINATOR_MARGIN_MS;
}
