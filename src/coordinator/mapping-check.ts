import type { Config } from "../config/config";
import { mappingsOf, nameOfMapping, type MappingReport } from "../core/mapping";
import { scopeName } from "../core/scope-change";

/**
 * The Worker's side of the mapping registry (docs/adr/0006, docs/adr/0009): what its
 * configuration declares about the key mapping. The Worker never calls the registry: the report
 * travels with each command, and the object about to claim a key checks it against the verdict
 * it keeps. A mapping the registry refuses would place keys where other versions do not look, so
 * such a claim is answered `invalid-configuration` instead of being forwarded.
 */

// A configuration is parsed once per isolate, so its report is computed once too.
const reports = new WeakMap<Config, MappingReport>();

/**
 * What a configuration declares about its mapping: its shard count and placement (location hint,
 * jurisdiction), the previous mapping during a migration, and its longest TTL.
 *
 * @example
 * mappingReport(config); // { current: "v1/shards=64", previous: null, ttlMs: 86_400_000 }
 */
export function mappingReport(config: Config): MappingReport {
  let report = reports.get(config);
  if (report === undefined) {
    const ttls = [config.ttlSeconds, ...config.routes.map((route) => route.settings.ttlSeconds)];
    const { current, previous } = mappingsOf(config);
    report = Object.freeze({
      current: nameOfMapping(current),
      previous: previous === null ? null : nameOfMapping(previous),
      ttlMs: Math.max(...ttls) * 1000,
      scope: scopeName(config.scopeHeaders),
      previousScope:
        config.previousScopeHeaders === null ? null : scopeName(config.previousScopeHeaders),
    });
    reports.set(config, report);
  }
  return report;
}
