import {
  SETTINGS,
  SETTING_NAMES,
  checkGuarantees,
  parseVariables,
  unknownVariable,
  type ConfigError,
  type Settings,
} from "./settings";
import { bySpecificity, parsePathPattern, type PathPattern } from "./path-pattern";

/**
 * Per-route policy: `IDEMPOTENCY_ROUTES` maps path patterns to overrides of the settings declared
 * `perRoute` (settings.ts), written exactly like the variables themselves:
 *
 * ```json
 * { "/v2/checkout/orders":            { "IDEMPOTENCY_KEY_FROM": "header:PayPal-Request-Id" },
 *   "/v2/checkout/orders/:id/capture": { "IDEMPOTENCY_KEY_FROM": "header:PayPal-Request-Id" },
 *   "/v1/refunds/*":                  { "IDEMPOTENCY_TTL_SECONDS": "604800" } }
 * ```
 *
 * Patterns use URLPattern pathname syntax (`path-pattern.ts`): `:name` for one segment, a trailing
 * `*` for any rest. Where several match, the most specific wins: a pattern without `*` before one
 * with it, then fewer `:name` parameters, then more literal characters, then the one declared
 * first. Global-only settings (the origin, scope headers, the key mapping) hold for the whole
 * gateway: a key must map to the same identity and object whatever path it is sent to, or a reuse
 * on another path could not be detected.
 */

/** One route's pattern and its complete settings (globals with its overrides applied). */
export interface Route {
  readonly pattern: string;
  readonly settings: Settings;
  /** Whether a request path falls under this route. */
  matches(path: string): boolean;
}

/** The result of parsing `IDEMPOTENCY_ROUTES`. */
export type RoutesResult =
  { ok: true; routes: readonly Route[] } | { ok: false; error: ConfigError };

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
  const routes: { route: Route; path: PathPattern }[] = [];
  for (const [pattern, overrides] of Object.entries(parsed)) {
    const at = `${variable}["${pattern}"]`;
    const path = parsePathPattern(pattern);
    if (!path.ok) return fail(at, path.reason);
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
    const route: Route = {
      pattern,
      settings: Object.freeze(settings),
      matches: path.pattern.matches,
    };
    routes.push({ route: Object.freeze(route), path: path.pattern });
  }
  // Most specific first (a stable sort keeps the declaration order of equals), so the first
  // match wins.
  routes.sort((a, b) => bySpecificity(a.path, b.path));
  return { ok: true, routes: Object.freeze(routes.map(({ route }) => route)) };
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
  return config.routes.find((route) => route.matches(path))?.settings ?? config;
}
