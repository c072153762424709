import { lengthPrefixed, sha256Hex } from "../core/canonical-encoding";
import type { AdminCount, Metrics } from "./metrics";

/**
 * The trail of admin actions: one JSON log line and one metrics data point per call of the key
 * endpoints (docs/operations.md, "Operating it"). A line names the operator by a short hash of the admin
 * token that authorised the call, never by the token, and the record by its key hash, never by
 * its key or scope values.
 */

/** One admin call, as logged. */
export interface AdminAudit extends AdminCount {
  /** The record's key hash, once known. */
  keyHash?: string;
  /** `actorOf` the admin token, once the call is authorised. */
  actor?: string;
  /** The record's state after the call (`none`: purged), for purge and resolve. */
  state?: string;
  /** A lookup returned the stored answer's body (`includeResponse`). */
  disclosed?: true;
}

/** Hex digits of the actor hash: enough to tell tokens apart across a rotation, no more. */
const ACTOR_HEX = 12;

/**
 * Who made an authorised admin call: a short SHA-256 of the admin token, domain-separated so the
 * value is useless as a hash of the token anywhere else.
 *
 * @example
 * await actorOf(env.ADMIN_TOKEN); // "9c1d0e7a42b3"
 */
export async function actorOf(token: string): Promise<string> {
  const digest = await sha256Hex(lengthPrefixed(["admin-actor/v1", token]));
  return digest.slice(0, ACTOR_HEX);
}

/**
 * Logs the call as one JSON line and counts it.
 *
 * @example
 * audit({ action: "purge", result: "purged", status: 200, keyHash, actor, state: "none" }, metrics);
 */
export function audit(line: AdminAudit, metrics: Metrics): void {
  const { action, result, ...rest } = line;
  console.log(JSON.stringify({ event: "admin", action, result, ...rest }));
  metrics.countAdmin({ action, result, status: line.status });
}
