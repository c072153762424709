import * as z from "zod/mini";
import { LEASE_GRACE_MS } from "../core/record.ts";

/**
 * Every configuration variable, declared once: its default, its schema (string in, typed value
 * out), whether `IDEMPOTENCY_ROUTES` may override it, the field it becomes, and the line the
 * README's configuration table shows. The parsed configuration, the per-route settings, the
 * coordinator's policy, the README table and the `Env` typing of tests all derive from here.
 *
 * Adding a setting is one entry below plus its use.
 *
 * `zod/mini` (the tree-shakable build of zod) keeps the Worker bundle small: every new isolate
 * parses the bundle before its first answer.
 */

/**
 * Upper bound for request and response bodies: one Worker→object RPC message is limited to
 * 32 MiB (workerd `MAX_JS_RPC_MESSAGE_SIZE`), and an isolate has 128 MB of memory.
 */
export const MAX_BODY_LIMIT = 16 * 1024 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2

function integer(min: number, max: number) {
  return z
    .pipe(
      z.string().check(z.regex(/^\d+$/, "must be a whole number written in digits")),
      z.transform(Number),
    )
    .check(z.refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`));
}

function flag() {
  return z.pipe(
    z.enum(["true", "false"], { error: 'must be "true" or "false"' }),
    z.transform((value) => value === "true"),
  );
}

function list<T>(item: z.ZodMiniType<T, string>, { allowEmpty }: { allowEmpty: boolean }) {
  return z
    .pipe(
      z
        .pipe(
          z.string(),
          z.transform((s) => (s.trim() === "" ? [] : s.split(",").map((part) => part.trim()))),
        )
        .check(z.refine((parts) => allowEmpty || parts.length > 0, "must list at least one value")),
      z.array(item),
    )
    .check(z.refine((parts) => new Set(parts).size === parts.length, "must not repeat a value"));
}

function frozen<T>(schema: z.ZodMiniType<T[], string>) {
  return z.pipe(
    schema,
    z.transform((items: T[]): readonly T[] => Object.freeze(items)),
  );
}

/** One variable's declaration. */
interface Declaration<Field extends string, Value, PerRoute extends boolean> {
  /** The camelCase name of the parsed value. */
  readonly field: Field;
  /** The value used when the variable is absent; `undefined`: required. */
  readonly default: string | undefined;
  /** Whether `IDEMPOTENCY_ROUTES` may override it. */
  readonly perRoute: PerRoute;
  /** One line for the README's configuration table (Markdown). */
  readonly description: string;
  /** Turns the variable's string into its value, or names what is wrong with it. */
  readonly schema: z.ZodMiniType<Value, string>;
}

function declare<const Field extends string, Value, const PerRoute extends boolean>(
  declaration: Declaration<Field, Value, PerRoute>,
): Declaration<Field, Value, PerRoute> {
  return declaration;
}

/** The configuration variables, in the order the README lists them. */
export const SETTINGS = {
  ORIGIN_URL: declare({
    field: "originUrl",
    default: undefined,
    perRoute: false,
    description:
      "base URL of the origin: http(s), no query, fragment or credentials; a path prefix is kept",
    schema: z.pipe(
      z
        .pipe(
          z
            .string({ error: "is required: the base URL of the origin API" })
            .check(z.refine((s) => URL.canParse(s), "must be an absolute URL")),
          z.transform((s) => new URL(s)),
        )
        .check(
          z.refine(
            (u) => u.protocol === "http:" || u.protocol === "https:",
            "must be http or https",
          ),
          z.refine((u) => u.username === "" && u.password === "", "must not carry credentials"),
          // `URL.search` is "" for a bare "?", so look at the href itself.
          z.refine((u) => !/[?#]/.test(u.href), "must not have a query or fragment"),
        ),
      z.transform((u) => u.href.replace(/\/+$/, "")),
    ),
  }),
  IDEMPOTENCY_METHODS: declare({
    field: "methods",
    default: "POST,PATCH",
    perRoute: true,
    description: "covered methods; every other method is proxied untouched",
    schema: z.pipe(
      list(
        z.pipe(
          z.string().check(z.regex(TOKEN, "must be HTTP method names")),
          z.transform((m) => m.toUpperCase()),
        ),
        { allowEmpty: false },
      ),
      z.transform((methods): ReadonlySet<string> => new Set(methods)),
    ),
  }),
  IDEMPOTENCY_KEY_REQUIRED: declare({
    field: "keyRequired",
    default: "true",
    perRoute: true,
    description:
      "whether a covered request must carry a key (`false`: proxied without idempotency)",
    schema: flag(),
  }),
  IDEMPOTENCY_TTL_SECONDS: declare({
    field: "ttlSeconds",
    default: "86400",
    perRoute: true,
    description:
      "how long a stored answer is replayed (at most 365 days; at least the origin timeout + 5 s)",
    schema: integer(1, 365 * 24 * 3600),
  }),
  IDEMPOTENCY_SCOPE_HEADERS: declare({
    field: "scopeHeaders",
    default: "authorization",
    perRoute: false,
    description: "request headers whose values scope a key (empty: one global scope)",
    schema: frozen(
      list(
        z.pipe(
          z.string().check(z.regex(TOKEN, "must be header names")),
          z.transform((h) => h.toLowerCase()),
        ),
        { allowEmpty: true },
      ),
    ),
  }),
  IDEMPOTENCY_CONCURRENCY: declare({
    field: "concurrency",
    default: "wait",
    perRoute: true,
    description: "`wait` or `reject` for in-flight duplicates",
    schema: z.enum(["wait", "reject"], { error: 'must be "wait" or "reject"' }),
  }),
  IDEMPOTENCY_WAIT_MS: declare({
    field: "waitMs",
    default: "10000",
    perRoute: true,
    description: "how long a duplicate waits for the first",
    schema: integer(0, 300_000),
  }),
  IDEMPOTENCY_ORIGIN_TIMEOUT_MS: declare({
    field: "originTimeoutMs",
    default: "30000",
    perRoute: true,
    description: "how long the origin may take (answer and body) before the outcome is unknown",
    schema: integer(1, 900_000),
  }),
  IDEMPOTENCY_RETRY_STATUSES: declare({
    field: "retryStatuses",
    default: "429,503",
    perRoute: true,
    description: "origin statuses that release the key instead of being stored",
    // A 1xx–3xx answer may have taken effect at the origin: forwarding it again could do it twice.
    schema: frozen(
      list(
        integer(100, 599).check(
          z.refine((n) => n >= 400, "must be 4xx or 5xx statuses: a 1xx–3xx answer is final"),
        ),
        { allowEmpty: true },
      ),
    ),
  }),
  IDEMPOTENCY_MAX_BODY_BYTES: declare({
    field: "maxBodyBytes",
    default: "1048576",
    perRoute: true,
    description: "largest request body on a covered request (≤ 16 MiB)",
    schema: integer(0, MAX_BODY_LIMIT),
  }),
  IDEMPOTENCY_MAX_RESPONSE_BYTES: declare({
    field: "maxResponseBytes",
    default: "10485760",
    perRoute: true,
    description:
      "largest origin answer that is kept for replay (≤ 16 MiB); a larger one fails closed",
    schema: integer(0, MAX_BODY_LIMIT),
  }),
  IDEMPOTENCY_SHARDS: declare({
    field: "shards",
    default: "64",
    perRoute: false,
    description: "`N`: keys hashed over N coordinator objects; `0`: one object per key (ADR 0006)",
    schema: integer(0, 4096),
  }),
  IDEMPOTENCY_SHARDS_PREVIOUS: declare({
    field: "previousShards",
    default: "",
    perRoute: false,
    description:
      "during a change of `IDEMPOTENCY_SHARDS`: the old count, which then arbitrates every key (ADR 0006)",
    schema: z.pipe(
      z.union([z.literal(""), integer(0, 4096)], {
        error: 'must be "" or a whole number between 0 and 4096',
      }),
      z.transform((v) => (v === "" ? null : v)),
    ),
  }),
  IDEMPOTENCY_ROUTES: declare({
    field: "routes",
    default: "",
    perRoute: false,
    description: "per-route overrides, JSON (below)",
    // Parsed against the other settings by `parseRoutes` (routes.ts).
    schema: z.string(),
  }),
  IDEMPOTENCY_REQUEST_LOGS: declare({
    field: "requestLogs",
    default: "true",
    perRoute: false,
    description:
      "one JSON log line per covered request; `false` leaves counting to the `METRICS` dataset (see Operating it)",
    schema: flag(),
  }),
} as const;

type Registry = typeof SETTINGS;

/** A configuration variable's name. */
export type VariableName = keyof Registry;

/** A variable that `IDEMPOTENCY_ROUTES` may override. */
export type SettingName = {
  [K in VariableName]: Registry[K]["perRoute"] extends true ? K : never;
}[VariableName];

type ValueOf<K extends VariableName> = z.output<Registry[K]["schema"]>;

/** The parsed value of every variable, by its field name. */
export type AllSettings = { readonly [K in VariableName as Registry[K]["field"]]: ValueOf<K> };

/** The settings that apply to one request: global, or overridden for its route. */
export type Settings = { readonly [K in SettingName as Registry[K]["field"]]: ValueOf<K> };

/** The names of the per-route variables, in declaration order. */
export const SETTING_NAMES = (Object.keys(SETTINGS) as VariableName[]).filter(
  (name): name is SettingName => SETTINGS[name].perRoute,
);

/** The prefix of every variable of the gateway's own. */
export const VARIABLE_PREFIX = "IDEMPOTENCY_";

/**
 * The rules between settings that keep the exactly-once guarantee (README, "Exactly once, across
 * operations"): a record must outlive the lease of its origin call, or a key orphaned by a crash
 * would expire and be forwarded again while the origin may still be working on it.
 *
 * @returns the first rule broken, or `null`
 */
export function checkGuarantees(settings: Settings): ConfigError | null {
  const leaseMs = settings.originTimeoutMs + LEASE_GRACE_MS;
  if (settings.ttlSeconds * 1000 < leaseMs) {
    return {
      variable: "IDEMPOTENCY_TTL_SECONDS",
      detail: `must be at least ${Math.ceil(leaseMs / 1000)} s: IDEMPOTENCY_ORIGIN_TIMEOUT_MS plus the ${LEASE_GRACE_MS / 1000} s lease grace, so no record expires while its origin call may still run`,
    };
  }
  return null;
}

/**
 * The first variable in `input` that looks like the gateway's (`IDEMPOTENCY_…`) but is not a
 * declared setting: a typo, or a setting of a newer version. It is refused rather than ignored,
 * because ignoring it could silently drop a rule the operator relies on.
 */
export function unknownVariable(input: Readonly<Record<string, unknown>>): ConfigError | null {
  const name = Object.keys(input).find(
    (key) => key.startsWith(VARIABLE_PREFIX) && !Object.hasOwn(SETTINGS, key),
  );
  if (name === undefined) return null;
  return {
    variable: name,
    detail:
      "is not a setting of this gateway version (a typo, or a setting of a newer version): remove it or upgrade",
  };
}

/** Why a value is invalid: the variable and what is wrong with it. */
export interface ConfigError {
  variable: string;
  detail: string;
}

/**
 * Parses `names` from `input` (absent variables take their default) into fields.
 *
 * @returns the fields, or the first variable found invalid
 */
export function parseVariables<K extends VariableName>(
  names: readonly K[],
  input: Readonly<Record<string, unknown>>,
): { ok: true; values: Record<string, unknown> } | { ok: false; error: ConfigError } {
  const values: Record<string, unknown> = {};
  for (const name of names) {
    const declaration: Declaration<string, unknown, boolean> = SETTINGS[name];
    const value = input[name] ?? declaration.default;
    if (value !== undefined && typeof value !== "string") {
      return {
        ok: false,
        error: { variable: name, detail: "must be a string (set it under [vars])" },
      };
    }
    const parsed = declaration.schema.safeParse(value);
    if (!parsed.success) {
      const detail = parsed.error.issues[0]?.message ?? "is invalid";
      return { ok: false, error: { variable: name, detail } };
    }
    values[declaration.field] = parsed.data;
  }
  return { ok: true, values };
}
