import { z } from "zod";
import {
  GLOBAL_SCHEMAS,
  SETTING_SCHEMAS,
  firstIssue,
  toSettings,
  type SettingName,
  type Settings,
} from "./settings";
import { parseRoutes, type Route } from "./routes";

export { MAX_BODY_LIMIT } from "./settings";

/**
 * The gateway's configuration: plain string `vars` (CONTRACT.md, "Configuration") turned into a
 * frozen, typed value by one zod schema. An absent variable takes its documented default; a
 * present but invalid one is an error that names it — never silently replaced by a default.
 */

/** The validated configuration: global settings, plus per-route overrides. */
export interface Config extends Settings {
  /** Origin base URL without a trailing slash; request path and query are appended. */
  readonly originUrl: string;
  /** Lowercase header names, in configuration order. */
  readonly scopeHeaders: readonly string[];
  /** 0: one coordinator object per key; N: keys hashed over N objects. */
  readonly shards: number;
  /** The shard count of the previous deployment while its keys are migrated, else `null`. */
  readonly previousShards: number | null;
  /** Whether each covered request gets its JSON log line (`IDEMPOTENCY_REQUEST_LOGS`). */
  readonly requestLogs: boolean;
  /** Per-route settings, most specific pattern first (`IDEMPOTENCY_ROUTES`). */
  readonly routes: readonly Route[];
}

/** Why the configuration is invalid: the variable and what is wrong with it. */
export interface ConfigError {
  variable: string;
  detail: string;
}

/** Every variable the gateway reads, with its default (`undefined`: required). */
export const CONFIG_DEFAULTS = {
  ORIGIN_URL: undefined,
  IDEMPOTENCY_METHODS: "POST,PATCH",
  IDEMPOTENCY_KEY_REQUIRED: "true",
  IDEMPOTENCY_TTL_SECONDS: "86400",
  IDEMPOTENCY_SCOPE_HEADERS: "authorization",
  IDEMPOTENCY_CONCURRENCY: "wait",
  IDEMPOTENCY_WAIT_MS: "10000",
  IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "30000",
  IDEMPOTENCY_RETRY_STATUSES: "429,503",
  IDEMPOTENCY_MAX_BODY_BYTES: "1048576",
  IDEMPOTENCY_MAX_RESPONSE_BYTES: "10485760",
  IDEMPOTENCY_SHARDS: "64",
  IDEMPOTENCY_SHARDS_PREVIOUS: "",
  IDEMPOTENCY_REQUEST_LOGS: "true",
  IDEMPOTENCY_ROUTES: "",
} as const satisfies Record<string, string | undefined>;

const schema = z.object({ ...GLOBAL_SCHEMAS, ...SETTING_SCHEMAS });

/** The outcome of reading the configuration. */
export type ConfigResult = { ok: true; config: Config } | { ok: false; error: ConfigError };

/**
 * Validates the Worker's `env` (only the variables above are read).
 *
 * @example
 * const result = parseConfig({ ORIGIN_URL: "https://origin.example.com" });
 * if (result.ok) result.config.ttlSeconds; // 86400
 */
export function parseConfig(env: Readonly<Record<string, unknown>>): ConfigResult {
  const input: Record<string, unknown> = {};
  for (const [name, fallback] of Object.entries(CONFIG_DEFAULTS)) {
    input[name] = env[name] ?? fallback;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) return { ok: false, error: firstIssue(parsed.error, input) };
  const routes = parseRoutes(input.IDEMPOTENCY_ROUTES, input as Record<SettingName, unknown>);
  if (!routes.ok) return routes;
  const v = parsed.data;
  if (v.IDEMPOTENCY_SHARDS_PREVIOUS === v.IDEMPOTENCY_SHARDS) {
    return {
      ok: false,
      error: {
        variable: "IDEMPOTENCY_SHARDS_PREVIOUS",
        detail: 'must differ from IDEMPOTENCY_SHARDS (set it to "" once the migration is over)',
      },
    };
  }
  const config: Config = {
    ...toSettings(v),
    originUrl: v.ORIGIN_URL,
    scopeHeaders: Object.freeze(v.IDEMPOTENCY_SCOPE_HEADERS),
    shards: v.IDEMPOTENCY_SHARDS,
    previousShards: v.IDEMPOTENCY_SHARDS_PREVIOUS === "" ? null : v.IDEMPOTENCY_SHARDS_PREVIOUS,
    requestLogs: v.IDEMPOTENCY_REQUEST_LOGS === "true",
    routes: routes.routes,
  };
  return { ok: true, config: Object.freeze(config) };
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
