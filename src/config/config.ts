import { mappingSettingsError } from "../core/mapping";
import { originBinding } from "../env";
import { parseRoutes, type Route } from "./routes";
import {
  SETTINGS,
  checkGuarantees,
  parseVariables,
  unknownVariable,
  type AllSettings,
  type ConfigError,
  type VariableName,
} from "./settings";

export { MAX_BODY_LIMIT, type ConfigError } from "./settings";

/**
 * The gateway's configuration: plain string `vars` (docs/configuration.md, "Configuration") turned into a
 * frozen, typed value, one declaration per variable (`settings.ts`). An absent variable takes its
 * documented default; a present but invalid one is an error that names it — never silently
 * replaced by a default.
 */

/** The validated configuration: global settings, plus per-route overrides. */
export interface Config extends Omit<AllSettings, "routes"> {
  /** Per-route settings, most specific pattern first (`IDEMPOTENCY_ROUTES`). */
  readonly routes: readonly Route[];
}

/** Every variable the gateway reads, with its default (`undefined`: required). */
export const CONFIG_DEFAULTS = Object.freeze(
  Object.fromEntries(
    Object.entries(SETTINGS).map(([name, declaration]) => [name, declaration.default]),
  ) as Record<VariableName, string | undefined>,
);

const VARIABLES = Object.keys(SETTINGS) as VariableName[];

/** The outcome of reading the configuration. */
export type ConfigResult = { ok: true; config: Config } | { ok: false; error: ConfigError };

/**
 * Validates the Worker's `env` (only the declared variables are read).
 *
 * @example
 * const result = parseConfig({ ORIGIN_URL: "https://origin.example.com" });
 * if (result.ok) result.config.ttlSeconds; // 86400
 */
export function parseConfig(env: Readonly<Record<string, unknown>>): ConfigResult {
  const unknown = unknownVariable(env);
  if (unknown !== null) return { ok: false, error: unknown };
  const parsed = parseVariables(VARIABLES, env);
  if (!parsed.ok) return parsed;
  const v = parsed.values as unknown as AllSettings;
  const broken = checkGuarantees(v);
  if (broken !== null) return { ok: false, error: broken };
  if (v.previousShards === v.shards) {
    return {
      ok: false,
      error: {
        variable: "IDEMPOTENCY_SHARDS_PREVIOUS",
        detail: 'must differ from IDEMPOTENCY_SHARDS (set it to "" once the migration is over)',
      },
    };
  }
  const mapping = mappingSettingsError(v);
  if (mapping !== null) return { ok: false, error: mapping };
  if (v.originUrl === "" && originBinding(env) === undefined) {
    return {
      ok: false,
      error: {
        variable: "ORIGIN_URL",
        detail:
          "is required: the base URL of the origin API (or bind the origin Worker as the service binding ORIGIN)",
      },
    };
  }
  const routes = parseRoutes(v.routes, env);
  if (!routes.ok) return routes;
  return { ok: true, config: Object.freeze({ ...v, routes: routes.routes }) };
}

const cache = new WeakMap<object, ConfigResult>();

/**
 * `parseConfig`, remembered per `env` object: workerd hands every request of an isolate the same
 * `env`, so validation runs once, not on the hot path.
 */
export function configFor(env: object): ConfigResult {
  let result = cache.get(env);
  if (result === undefined) {
    result = parseConfig(env as Record<string, unknown>);
    cache.set(env, result);
  }
  return result;
}
