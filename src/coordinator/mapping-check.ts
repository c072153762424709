import type { Config } from "../config/config";
import type { ConfigError } from "../config/settings";
import { mappingsOf, nameOfMapping, type MappingReport } from "../core/mapping";
import type { IdempotencyCoordinator } from "./coordinator";
import { HEARTBEAT_MS, REGISTRY_NAME } from "./mapping-registry";

/**
 * The Worker's side of the mapping registry (docs/adr/0006): before an isolate places its first
 * key, and again every `HEARTBEAT_MS`, it reports its key mapping; a mapping the registry refuses
 * would place keys where other versions do not look, so the isolate answers
 * `invalid-configuration` instead of forwarding anything. The registry is one object of the
 * unrestricted namespace (never a jurisdiction's), so every configuration finds the same one
 * whatever jurisdiction it places keys in.
 */

interface Checked {
  verdict: ConfigError | null;
  at: number;
}

// Isolate memory: one entry per configuration seen (a deployment has one or two).
const checked = new Map<string, Checked>();

/**
 * What a configuration declares about its mapping: its shard count and placement (location hint,
 * jurisdiction), and the previous mapping during a migration.
 */
export function mappingReport(config: Config): MappingReport {
  const ttls = [config.ttlSeconds, ...config.routes.map((route) => route.settings.ttlSeconds)];
  const { current, previous } = mappingsOf(config);
  return {
    current: nameOfMapping(current),
    previous: previous === null ? null : nameOfMapping(previous),
    ttlMs: Math.max(...ttls) * 1000,
  };
}

/**
 * `null` when this configuration's mapping may place keys, else why not.
 *
 * @example
 * const refused = await checkMapping(env.COORDINATOR, config, Date.now());
 * if (refused) return problemResponse({ code: "invalid-configuration", ...refused });
 */
export async function checkMapping(
  namespace: DurableObjectNamespace<IdempotencyCoordinator>,
  config: Config,
  now: number,
): Promise<ConfigError | null> {
  const { report, id } = reportOf(config);
  const known = checked.get(id);
  if (known !== undefined && now - known.at < HEARTBEAT_MS) return known.verdict;
  const verdict = await namespace.getByName(REGISTRY_NAME).reportMapping(report);
  const error = verdict.ok ? null : { variable: verdict.variable, detail: verdict.detail };
  checked.set(id, { verdict: error, at: now });
  return error;
}

// A configuration is parsed once per isolate, so its report is computed once too.
const reports = new WeakMap<Config, { report: MappingReport; id: string }>();

function reportOf(config: Config): { report: MappingReport; id: string } {
  let known = reports.get(config);
  if (known === undefined) {
    const report = mappingReport(config);
    known = { report, id: JSON.stringify(report) };
    reports.set(config, known);
  }
  return known;
}

/** Forgets every verdict (tests start each case from an empty registry). */
export function forgetMappingChecks(): void {
  checked.clear();
}
