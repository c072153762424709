import {
  SETTINGS,
  SETTING_NAMES,
  checkGuarantees,
  parseVariables,
  unknownVariable,
  type ConfigError,
  type Settings,
} from "./settings";

/**
 * Per-route policy: `IDEMPOTENCY_ROUTES` maps path patterns to overrides of the settings declared
 * `perRoute` (settings.ts), written exactly like the variables themselves:
 *
 * ```json
 * { "/v1/refunds/*": { "IDEMPOTENCY_TTL_SECONDS": "604800" },
 *   "/v1/quotes":    { "IDEMPOTENCY_KEY_REQUIRED": "false" } }
 * ```
 *
 * A pattern is a path; a trailing `*` matches any rest of the path. The longest matching pattern
 * wins. Global-only settings (the origin, scope headers, shard count) hold for the whole gateway:
 * a key must map to the same identity and object whatever path it is sent to, or a reuse on
 * another path could not be detected.
 */

/** One route's pattern and its complete settings (globals with its overrides applied). */
export interface Route {
  readonly pattern: string;
  readonly settings: Settings;
}

/** The result of parsing `IDEMPOTENCY_ROUTES`. */
export type RoutesResult =
  { ok: true; routes: readonly Route[] } | { ok: false; error: ConfigError };

const PATTERN = /^\/[^*?#\s]*\*?$/;

/**
 * Parses `IDEMPOTENCY_ROUTES` (`""`: no routes) against the global variables.
 *
 * @param json - the variable's value
 * @param globals - the Worker's variables, which routes override (absent ones take defaults)
 * @example
 * parseRoutes('{"/v1/refunds/*":{"IDEMPOTENCY_TTL_SECONDS":"604800"}}', env);
 */
export function parseRoutes(
  json: string,
  globals: Readonly<Record<string, unknown>>,
): RoutesResult {
  const variable = "IDEMPOTENCY_ROUTES";
  if (json === "") return { ok: true, routes: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return fail(variable, "must be valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return fail(variable, "must be a JSON object mapping path patterns to overrides");
  }
  const routes: Route[] = [];
  for (const [pattern, overrides] of Object.entries(parsed)) {
    const at = `${variable}["${pattern}"]`;
    if (!PATTERN.test(pattern)) {
      return fail(at, 'must be a path starting with "/", with "*" only at the end');
    }
    if (typeof overrides !== "object" || overrides === null || Array.isArray(overrides)) {
      return fail(at, "must be an object of variable overrides");
    }
    const unknown = unknownVariable(overrides);
    if (unknown !== null) return fail(`${at}.${unknown.variable}`, unknown.detail);
    const notPerRoute = Object.keys(overrides).find(
      (name) => !Object.hasOwn(SETTINGS, name) || !SETTINGS[name as keyof typeof SETTINGS].perRoute,
    );
    if (notPerRoute !== undefined) {
      return fail(`${at}.${notPerRoute}`, "cannot be set per route");
    }
    const values = parseVariables(SETTING_NAMES, { ...globals, ...overrides });
    if (!values.ok) return fail(`${at}.${values.error.variable}`, values.error.detail);
    const settings = values.values as unknown as Settings;
    const broken = checkGuarantees(settings);
    if (broken !== null) return fail(`${at}.${broken.variable}`, broken.detail);
    routes.push({ pattern, settings: Object.freeze(settings) });
  }
  // Longest pattern first, so the first match is the most specific.
  routes.sort((a, b) => b.pattern.length - a.pattern.length);
  return { ok: true, routes: Object.freeze(routes) };
}

function fail(variable: string, detail: string): RoutesResult {
  return { ok: false, error: { variable, detail } };
}

/**
 * The settings for a request path: the most specific matching route's, else the globals.
 *
 * @example
 * settingsFor(config, "/v1/refunds/re_123").ttlSeconds; // 604800 with the example above
 */
export function settingsFor(
  config: Settings & { readonly routes: readonly Route[] },
  path: string,
): Settings {
  for (const route of config.routes) {
    if (matches(route.pattern, path)) return route.settings;
  }
  return config;
}

function matches(pattern: string, path: string): boolean {
  return pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}
