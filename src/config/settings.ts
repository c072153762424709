import * as z from "zod/mini";
import { DEFAULT_KEY_SOURCE, parseKeySource } from "../core/key-source.ts";
import { ERROR_DIALECTS } from "../core/error-dialects.ts";
import { JURISDICTIONS, LOCATION_HINTS, parseMappingName } from "../core/mapping.ts";
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

/** A status class in `IDEMPOTENCY_RETRY_STATUSES`: `4xx` or `5xx` (any case). */
const STATUS_CLASS = /^([1-9])xx$/i;

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
  /**
   * Turns the variable's string into its value, or names what is wrong with it. It sees
   * `undefined` only for a variable without a default that is absent.
   */
  readonly schema: z.ZodMiniType<Value, string | undefined>;
}

function declare<const Field extends string, Value, const PerRoute extends boolean>(
  declaration: Declaration<Field, Value, PerRoute>,
): Declaration<Field, Value, PerRoute> {
  return declaration;
}

/**
 * The longest `IDEMPOTENCY_EDGE_REPLAY_SECONDS`: also how long a purge made by a Worker that
 * does not say its own bound holds the key (docs/adr/0008).
 */
export const MAX_EDGE_REPLAY_SECONDS = 300;

/** The configuration variables, in the order the README lists them. */
export const SETTINGS = {
  ORIGIN_URL: declare({
    field: "originUrl",
    default: undefined,
    perRoute: false,
    description:
      "base URL of the origin: http(s), no query, fragment or credentials; a path prefix is kept. May be absent when the origin Worker is bound as `ORIGIN` (see Deploying)",
    // Absent: `""`, allowed only beside an `ORIGIN` service binding (config.ts checks).
    schema: z.pipe(
      z.optional(
        z.pipe(
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
      ),
      z.transform((url): string => url ?? ""),
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
    // `false` by default: a gateway put in front of an existing API must not break the clients
    // that send some writes without a key (docs/adr/0013-keyless-writes-pass-by-default.md).
    default: "false",
    perRoute: true,
    description:
      "whether a covered request must carry a key: `false` proxies a keyless one untouched, without idempotency (outcome `keyless`); `true` answers it `400 missing-idempotency-key`",
    schema: flag(),
  }),
  IDEMPOTENCY_KEY_FROM: declare({
    field: "keySource",
    default: DEFAULT_KEY_SOURCE,
    perRoute: true,
    description:
      "where the key is: `header:<Name>`, `json:<RFC 6901 pointer>` (a string member of a JSON body), or `none` (no key: proxied untouched)",
    schema: z.pipe(
      z.string(),
      z.transform((text: string, ctx) => {
        const parsed = parseKeySource(text);
        if (parsed.ok) return parsed.source;
        ctx.issues.push({ code: "custom", message: parsed.reason, input: text });
        return z.NEVER;
      }),
    ),
  }),
  IDEMPOTENCY_FINGERPRINT: declare({
    field: "fingerprintMode",
    default: "bytes",
    perRoute: true,
    description:
      "how a retry must match its first request's body: `bytes`, or `json` (JSON by its RFC 8785 canonical form, urlencoded forms by sorted pairs, other bodies by bytes)",
    schema: z.enum(["bytes", "json"], { error: 'must be "bytes" or "json"' }),
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
  IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS: declare({
    field: "previousScopeHeaders",
    default: "",
    perRoute: false,
    description:
      'during a change of `IDEMPOTENCY_SCOPE_HEADERS`: the old list (`(none)` for the old global scope), whose keys are still found; unset: no change (docs/operations.md, "Changing the scope headers")',
    schema: z.union([
      z.pipe(
        z.literal(""),
        z.transform((): readonly string[] | null => null),
      ),
      z.pipe(
        z.literal("(none)"),
        z.transform((): readonly string[] | null => Object.freeze([])),
      ),
      frozen(
        list(
          z.pipe(
            z.string().check(z.regex(TOKEN, "must be header names")),
            z.transform((h) => h.toLowerCase()),
          ),
          { allowEmpty: false },
        ),
      ),
    ]),
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
    description:
      "origin statuses that release the key instead of being stored; `4xx` and `5xx` stand for a whole class (never 1xx–3xx)",
    // A 1xx–3xx answer may have taken effect at the origin: forwarding it again could do it twice.
    // A class token expands to its 100 statuses, so the coordinator's check stays a list lookup.
    schema: frozen(
      z.pipe(
        z
          .pipe(
            z.pipe(
              z.string(),
              z.transform((s) => (s.trim() === "" ? [] : s.split(",").map((part) => part.trim()))),
            ),
            z.array(
              z
                .pipe(
                  z
                    .string()
                    .check(
                      z.refine(
                        (item) => /^\d+$/.test(item) || STATUS_CLASS.test(item),
                        "must be statuses written in digits, or the classes 4xx and 5xx",
                      ),
                    ),
                  z.transform((item): number[] => {
                    const digit = STATUS_CLASS.exec(item)?.[1];
                    if (digit === undefined) return [Number(item)];
                    return Array.from({ length: 100 }, (_, i) => Number(digit) * 100 + i);
                  }),
                )
                .check(
                  z.refine(
                    (statuses) => statuses.every((n) => n >= 100 && n <= 599),
                    "must be between 100 and 599",
                  ),
                  z.refine(
                    (statuses) => statuses.every((n) => n >= 400),
                    "must be 4xx or 5xx statuses: a 1xx–3xx answer is final",
                  ),
                ),
            ),
          )
          .check(
            z.refine(
              (groups) => new Set(groups.flat()).size === groups.flat().length,
              "must not repeat a status (a class holds all of its statuses)",
            ),
          ),
        z.transform((groups) => groups.flat()),
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
  IDEMPOTENCY_UNKNOWN_OUTCOME: declare({
    field: "unknownOutcome",
    default: "fail-closed",
    perRoute: true,
    description:
      "what a retry meets after an outcome the gateway could not see (timeout, broken link, lost instance): `fail-closed` (`504` until the TTL) or `reforward` (forwarded again, same key, inside the origin's window; ADR 0011)",
    schema: z.enum(["fail-closed", "reforward"], { error: 'must be "fail-closed" or "reforward"' }),
  }),
  IDEMPOTENCY_ORIGIN_KEY_SECONDS: declare({
    field: "originKeySeconds",
    default: "",
    perRoute: true,
    description:
      "how long the origin itself honours a forwarded key (its documented window); required with `reforward`, refused without it; re-forwarding stops once a call could end past this window or the TTL",
    schema: z.pipe(
      z.union([z.literal(""), integer(1, 365 * 24 * 3600)], {
        error: 'must be "" or a whole number of seconds between 1 and 31536000',
      }),
      z.transform((v) => (v === "" ? null : v)),
    ),
  }),
  IDEMPOTENCY_PROBE_PATH: declare({
    field: "probePath",
    default: "/",
    perRoute: false,
    description:
      "the path under `ORIGIN_URL` that the reachability probe sends `HEAD` to before a forward when the origin has not answered lately (any answer proves it reachable: ADR 0005), or `off`: never probe, so a forward that fails fails closed (`504`) even where nothing reached the origin",
    schema: z.pipe(
      z.string().check(
        z.refine(
          (s) => s === "off" || /^\/[\x21-\x7e]*$/.test(s),
          'must be "off" or a path that starts with "/" (printable ASCII, no spaces)',
        ),
        z.refine((s) => !s.includes("#"), "must not have a fragment"),
      ),
      z.transform((s): string | null => (s === "off" ? null : s)),
    ),
  }),
  IDEMPOTENCY_ERROR_DIALECT: declare({
    field: "errorDialect",
    default: "stripe",
    perRoute: true,
    description:
      "error members for the fronted API's SDKs, added to every problem: `stripe` (the `error` envelope), `paypal`, `square`, `adyen`, `gocardless` (GoCardless's `error` object in place of the envelope) or `acp` (the Agentic Commerce Protocol's `type` and `code` in place of the problem's; see Errors)",
    schema: z.enum(ERROR_DIALECTS, { error: `must be one of ${ERROR_DIALECTS.join(", ")}` }),
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
  IDEMPOTENCY_LOCATION_HINT: declare({
    field: "locationHint",
    default: "",
    perRoute: false,
    description:
      "Durable Object location hint for new coordinators (`enam`, `weur`, `apac`…), to place them near the origin (see Deploying); part of the key mapping (ADR 0006)",
    schema: z.pipe(
      z.enum(["", ...LOCATION_HINTS], {
        error: `must be "" or a location hint: ${LOCATION_HINTS.join(", ")}`,
      }),
      z.transform((hint) => (hint === "" ? null : hint)),
    ),
  }),
  IDEMPOTENCY_JURISDICTION: declare({
    field: "jurisdiction",
    default: "",
    perRoute: false,
    description:
      "Durable Object jurisdiction the coordinators and stored answers are kept in (`eu`, `fedramp`…); part of the key mapping (ADR 0006)",
    schema: z.pipe(
      z.enum(["", ...JURISDICTIONS], {
        error: `must be "" or a jurisdiction: ${JURISDICTIONS.join(", ")}`,
      }),
      z.transform((jurisdiction) => (jurisdiction === "" ? null : jurisdiction)),
    ),
  }),
  IDEMPOTENCY_MAPPING_PREVIOUS: declare({
    field: "previousMapping",
    default: "",
    perRoute: false,
    description:
      "during any change of the key mapping (shards, location hint, jurisdiction): the previous mapping's name as the registry reports it, e.g. `v1/shards=64` (ADR 0006)",
    schema: z.pipe(
      z.string(),
      z.transform((name: string, ctx) => {
        if (name === "") return null;
        const mapping = parseMappingName(name);
        if (mapping !== null) return mapping;
        ctx.issues.push({
          code: "custom",
          message:
            'must be "" or a key mapping name such as v1/shards=64 or v1/shards=64/jurisdiction=eu/hint=weur',
          input: name,
        });
        return z.NEVER;
      }),
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
  IDEMPOTENCY_EDGE_REPLAY_SECONDS: declare({
    field: "edgeReplaySeconds",
    default: "60",
    perRoute: false,
    description:
      "how long a Worker may replay a completed answer it has seen without asking the coordinator (`0`: never; ADR 0008)",
    schema: integer(0, MAX_EDGE_REPLAY_SECONDS),
  }),
  IDEMPOTENCY_STORAGE_LIMIT_BYTES: declare({
    field: "storageLimitBytes",
    default: "9000000000",
    perRoute: false,
    description:
      "an object's database size past which it takes no new key (`503 gateway-busy`; at most 9 GB, a gigabyte below the platform's 10 GB per object, left to the answers of keys in flight); `storage-high` is logged from 80% of it",
    schema: integer(1_048_576, 9_000_000_000),
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
 * The rules between settings that keep the exactly-once guarantee (docs/security.md, "Reliability and security"): a record must outlive the lease of its origin call, or a key orphaned by a crash
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
  return checkReforward(settings);
}

/**
 * `reforward` is safe only inside the origin's own key window (docs/adr/0011), so the window is
 * required with it — and refused without it, where it would be a setting that does nothing (a
 * route that fails closed under a global window sets it to "").
 */
function checkReforward(settings: Settings): ConfigError | null {
  const variable = "IDEMPOTENCY_ORIGIN_KEY_SECONDS";
  const window = settings.originKeySeconds;
  if (settings.unknownOutcome === "fail-closed") {
    if (window === null) return null;
    return {
      variable,
      detail:
        'is set but IDEMPOTENCY_UNKNOWN_OUTCOME is "fail-closed": set it to "" (or remove it) where unknown outcomes are not re-forwarded',
    };
  }
  if (window === null) {
    return {
      variable,
      detail:
        'is required with IDEMPOTENCY_UNKNOWN_OUTCOME="reforward": how long the origin itself honours a key (its documented window)',
    };
  }
  if (window * 1000 <= settings.originTimeoutMs) {
    return {
      variable,
      detail:
        "must be longer than IDEMPOTENCY_ORIGIN_TIMEOUT_MS: a re-forward must be able to finish inside the origin's window",
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
