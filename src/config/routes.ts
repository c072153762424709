import { z } from "zod";
import {
  SETTING_SCHEMAS,
  firstIssue,
  toSettings,
  type SettingName,
  type SettingValues,
  type Settings,
} from "./settings";

/**
 * Per-route policy: `IDEMPOTENCY_ROUTES` maps path patterns to overrides of the overridable
 * settings, written exactly like the variables themselves:
 *
 * ```json
 * { "/v1/refunds/*": { "IDEMPOTENCY_TTL_SECONDS": "604800" },
 *   "/v1/quotes":    { "IDEMPOTENCY_KEY_REQUIRED": "false" } }
 * ```
 *
 * A pattern is a path; a trailing `*` matches any rest of the path. The longest matching pattern
 * wins. `ORIGIN_URL`, `IDEMPOTENCY_SCOPE_HEADERS` and `IDEMPOTENCY_SHARDS` hold for the whole
 * gateway: a key must map to the same identity and object whatever path it is sent to, or a
 * reuse on another path could not be detected.
 */

/** One route's pattern and its complete settings (globals with its overrides applied). */
export interface Route {
  readonly pattern: string;
  readonly settings: Settings;
}

/** The result of parsing `IDEMPOTENCY_ROUTES`. */
export type RoutesResult =
  | { ok: true; routes: readonly Route[] }
  | { ok: false; error: { variable: string; detail: string } };

const PATTERN = /^\/[^*?#\s]*\*?$/;

/**
 * Parses `IDEMPOTENCY_ROUTES` (`""` or absent: no routes) against the global setting strings.
 *
 * @param json - the variable's value
 * @param globals - the global variable strings (defaults applied), which routes override
 * @example
 * parseRoutes('{"/v1/refunds/*":{"IDEMPOTENCY_TTL_SECONDS":"604800"}}', globals);
 */
export function parseRoutes(
  json: unknown,
  globals: Readonly<Record<SettingName, unknown>>,
): RoutesResult {
  const variable = "IDEMPOTENCY_ROUTES";
  if (json === undefined || json === "") return { ok: true, routes: [] };
  if (typeof json !== "string") return fail(variable, "must be a string of JSON");
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
    const unknown = Object.keys(overrides).find((name) => !Object.hasOwn(SETTING_SCHEMAS, name));
    if (unknown !== undefined) {
      return fail(`${at}.${unknown}`, "cannot be set per route");
    }
    const input = { ...globals, ...overrides };
    const values = z.object(SETTING_SCHEMAS).safeParse(input);
    if (!values.success) {
      const issue = firstIssue(values.error, input);
      return fail(`${at}.${issue.variable}`, issue.detail);
    }
    routes.push({ pattern, settings: toSettings(values.data as SettingValues) });
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
