import { z } from "zod";

/**
 * The gateway's configuration: plain string `vars` (CONTRACT.md, "Configuration") turned into a
 * frozen, typed value by one zod schema. An absent variable takes its documented default; a
 * present but invalid one is an error that names it — never silently replaced by a default.
 */

/** The validated configuration. */
export interface Config {
  /** Origin base URL without a trailing slash; request path and query are appended. */
  readonly originUrl: string;
  readonly methods: ReadonlySet<string>;
  readonly keyRequired: boolean;
  readonly ttlSeconds: number;
  /** Lowercase header names, in configuration order. */
  readonly scopeHeaders: readonly string[];
  readonly concurrency: "wait" | "reject";
  readonly waitMs: number;
  readonly originTimeoutMs: number;
  readonly retryStatuses: readonly number[];
  readonly maxBodyBytes: number;
  readonly maxResponseBytes: number;
  /** 0: one coordinator object per key; N: keys hashed over N objects. */
  readonly shards: number;
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
  IDEMPOTENCY_SHARDS: "0",
} as const satisfies Record<string, string | undefined>;

/**
 * Upper bound for request and response bodies: one Worker→object RPC message is limited to
 * 32 MiB (workerd `MAX_JS_RPC_MESSAGE_SIZE`), and an isolate has 128 MB of memory.
 */
export const MAX_BODY_LIMIT = 16 * 1024 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2

function integer(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, "must be a whole number written in digits")
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);
}

function list<T extends z.ZodType<unknown, string>>(
  item: T,
  { allowEmpty }: { allowEmpty: boolean },
) {
  return z
    .string()
    .transform((s) => (s.trim() === "" ? [] : s.split(",").map((part) => part.trim())))
    .refine((parts) => allowEmpty || parts.length > 0, "must list at least one value")
    .pipe(z.array(item))
    .refine((parts) => new Set(parts).size === parts.length, "must not repeat a value");
}

const schema = z.object({
  ORIGIN_URL: z
    .string({ error: "is required: the base URL of the origin API" })
    .refine((s) => URL.canParse(s), "must be an absolute URL")
    .transform((s) => new URL(s))
    .refine((u) => u.protocol === "http:" || u.protocol === "https:", "must be http or https")
    .refine((u) => u.username === "" && u.password === "", "must not carry credentials")
    // `URL.search` is "" for a bare "?", so look at the href itself.
    .refine((u) => !/[?#]/.test(u.href), "must not have a query or fragment")
    .transform((u) => u.href.replace(/\/+$/, "")),
  IDEMPOTENCY_METHODS: list(
    z
      .string()
      .regex(TOKEN, "must be HTTP method names")
      .transform((m) => m.toUpperCase()),
    { allowEmpty: false },
  ),
  IDEMPOTENCY_KEY_REQUIRED: z.enum(["true", "false"], { error: 'must be "true" or "false"' }),
  IDEMPOTENCY_TTL_SECONDS: integer(1, 365 * 24 * 3600),
  IDEMPOTENCY_SCOPE_HEADERS: list(
    z
      .string()
      .regex(TOKEN, "must be header names")
      .transform((h) => h.toLowerCase()),
    { allowEmpty: true },
  ),
  IDEMPOTENCY_CONCURRENCY: z.enum(["wait", "reject"], { error: 'must be "wait" or "reject"' }),
  IDEMPOTENCY_WAIT_MS: integer(0, 300_000),
  IDEMPOTENCY_ORIGIN_TIMEOUT_MS: integer(1, 900_000),
  IDEMPOTENCY_RETRY_STATUSES: list(integer(100, 599), { allowEmpty: true }),
  IDEMPOTENCY_MAX_BODY_BYTES: integer(0, MAX_BODY_LIMIT),
  IDEMPOTENCY_MAX_RESPONSE_BYTES: integer(0, MAX_BODY_LIMIT),
  IDEMPOTENCY_SHARDS: integer(0, 4096),
});

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
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? "configuration");
    const value = input[variable];
    const detail =
      value !== undefined && typeof value !== "string"
        ? "must be a string (set it under [vars])"
        : (issue?.message ?? "is invalid");
    return { ok: false, error: { variable, detail } };
  }
  const v = parsed.data;
  const config: Config = {
    originUrl: v.ORIGIN_URL,
    methods: new Set(v.IDEMPOTENCY_METHODS),
    keyRequired: v.IDEMPOTENCY_KEY_REQUIRED === "true",
    ttlSeconds: v.IDEMPOTENCY_TTL_SECONDS,
    scopeHeaders: Object.freeze(v.IDEMPOTENCY_SCOPE_HEADERS),
    concurrency: v.IDEMPOTENCY_CONCURRENCY,
    waitMs: v.IDEMPOTENCY_WAIT_MS,
    originTimeoutMs: v.IDEMPOTENCY_ORIGIN_TIMEOUT_MS,
    retryStatuses: Object.freeze(v.IDEMPOTENCY_RETRY_STATUSES),
    maxBodyBytes: v.IDEMPOTENCY_MAX_BODY_BYTES,
    maxResponseBytes: v.IDEMPOTENCY_MAX_RESPONSE_BYTES,
    shards: v.IDEMPOTENCY_SHARDS,
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
