import { VERDICT_LEASE_MS } from "./mapping-verdicts";
import { decideScope } from "../core/scope-change";
import {
  decideMapping,
  type MappingReport,
  type MappingState,
  type MappingVerdict,
} from "../core/mapping";

/**
 * The registry of key → object mappings in use: one coordinator object per namespace, named
 * `REGISTRY_NAME`, whose `registry` table holds the `MappingState` (docs/adr/0006). The objects
 * that claim keys report the mapping of the Workers that send them commands, and keep the verdict
 * for at most `VERDICT_LEASE_MS` (docs/adr/0009); Workers older than that reported their mapping
 * themselves every `HEARTBEAT_MS`. The registry refuses a configuration that could place one key
 * in two objects.
 */

/** The object that holds the registry (it can never be a shard or a key identity name). */
export const REGISTRY_NAME = "mapping-registry";

/**
 * How long after the registry last saw a mapping a key may still be claimed under it: the
 * objects' lease on a verdict, which is longer than the heartbeat of Workers that reported
 * themselves (60 s).
 */
export const SIGHTING_VALID_MS = VERDICT_LEASE_MS;

/** The table; created with the object's schema. */
export const REGISTRY_SCHEMA = `
CREATE TABLE IF NOT EXISTS registry (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  state TEXT NOT NULL
);
`;

/**
 * Applies a Worker's report to the stored state, in one synchronous step (no other request to
 * the registry can interleave), and answers whether that Worker may serve.
 */
export function reportMapping(sql: SqlStorage, report: MappingReport, now: number): MappingVerdict {
  const row = sql.exec<{ state: string }>("SELECT state FROM registry WHERE id = 1").toArray()[0];
  const state = row === undefined ? null : (JSON.parse(row.state) as MappingState);
  const verdict = decideScope(
    state,
    decideMapping(state, report, now, SIGHTING_VALID_MS),
    report,
    now,
    SIGHTING_VALID_MS,
  );
  if (verdict.ok && verdict.state !== state) {
    sql.exec(
      "INSERT INTO registry (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
      JSON.stringify(verdict.state),
    );
  }
  return verdict;
}
