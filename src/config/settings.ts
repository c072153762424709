import { z } from "zod";

/**
 * The configuration variables, each with its zod schema and default: the single source for the
 * global settings (`config.ts`) and the per-route overrides (`route-policy.ts`).
 */

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

/** The settings a route may override, by variable name. */
export const SETTING_SCHEMAS = {
  IDEMPOTENCY_METHODS: list(
    z
      .string()
      .regex(TOKEN, "must be HTTP method names")
      .transform((m) => m.toUpperCase()),
    { allowEmpty: false },
  ),
  IDEMPOTENCY_KEY_REQUIRED: z.enum(["true", "false"], { error: 'must be "true" or "false"' }),
  IDEMPOTENCY_TTL_SECONDS: integer(1, 365 * 24 * 3600),
  IDEMPOTENCY_CONCURRENCY: z.enum(["wait", "reject"], { error: 'must be "wait" or "reject"' }),
  IDEMPOTENCY_WAIT_MS: integer(0, 300_000),
  IDEMPOTENCY_ORIGIN_TIMEOUT_MS: integer(1, 900_000),
  IDEMPOTENCY_RETRY_STATUSES: list(integer(100, 599), { allowEmpty: true }),
  IDEMPOTENCY_MAX_BODY_BYTES: integer(0, MAX_BODY_LIMIT),
  IDEMPOTENCY_MAX_RESPONSE_BYTES: integer(0, MAX_BODY_LIMIT),
} as const;

/** The settings that hold for the whole gateway only. */
export const GLOBAL_SCHEMAS = {
  ORIGIN_URL: z
    .string({ error: "is required: the base URL of the origin API" })
    .refine((s) => URL.canParse(s), "must be an absolute URL")
    .transform((s) => new URL(s))
    .refine((u) => u.protocol === "http:" || u.protocol === "https:", "must be http or https")
    .refine((u) => u.username === "" && u.password === "", "must not carry credentials")
    // `URL.search` is "" for a bare "?", so look at the href itself.
    .refine((u) => !/[?#]/.test(u.href), "must not have a query or fragment")
    .transform((u) => u.href.replace(/\/+$/, "")),
  IDEMPOTENCY_SCOPE_HEADERS: list(
    z
      .string()
      .regex(TOKEN, "must be header names")
      .transform((h) => h.toLowerCase()),
    { allowEmpty: true },
  ),
  IDEMPOTENCY_SHARDS: integer(0, 4096),
  IDEMPOTENCY_REQUEST_LOGS: z.enum(["true", "false"], { error: 'must be "true" or "false"' }),
  // "" (no migration in progress) or the shard count being migrated away from (docs/adr/0006).
  IDEMPOTENCY_SHARDS_PREVIOUS: z.union([z.literal(""), integer(0, 4096)], {
    error: 'must be "" or a whole number between 0 and 4096',
  }),
} as const;

/** A variable a route may override. */
export type SettingName = keyof typeof SETTING_SCHEMAS;

/** The settings that apply to one request (global, or overridden for its route). */
export interface Settings {
  readonly methods: ReadonlySet<string>;
  readonly keyRequired: boolean;
  readonly ttlSeconds: number;
  readonly concurrency: "wait" | "reject";
  readonly waitMs: number;
  readonly originTimeoutMs: number;
  readonly retryStatuses: readonly number[];
  readonly maxBodyBytes: number;
  readonly maxResponseBytes: number;
}

/** The parsed values of every overridable variable. */
export type SettingValues = { [K in SettingName]: z.output<(typeof SETTING_SCHEMAS)[K]> };

/** Builds the typed settings from parsed variable values. */
export function toSettings(v: SettingValues): Settings {
  return Object.freeze({
    methods: new Set(v.IDEMPOTENCY_METHODS),
    keyRequired: v.IDEMPOTENCY_KEY_REQUIRED === "true",
    ttlSeconds: v.IDEMPOTENCY_TTL_SECONDS,
    concurrency: v.IDEMPOTENCY_CONCURRENCY,
    waitMs: v.IDEMPOTENCY_WAIT_MS,
    originTimeoutMs: v.IDEMPOTENCY_ORIGIN_TIMEOUT_MS,
    retryStatuses: Object.freeze(v.IDEMPOTENCY_RETRY_STATUSES),
    maxBodyBytes: v.IDEMPOTENCY_MAX_BODY_BYTES,
    maxResponseBytes: v.IDEMPOTENCY_MAX_RESPONSE_BYTES,
  });
}

/** The first problem of a failed parse, as the variable it concerns and what is wrong. */
export function firstIssue(error: z.ZodError, input: Readonly<Record<string, unknown>>) {
  const issue = error.issues[0];
  const variable = String(issue?.path[0] ?? "configuration");
  const value = input[variable];
  const detail =
    value !== undefined && typeof value !== "string"
      ? "must be a string (set it under [vars])"
      : (issue?.message ?? "is invalid");
  return { variable, detail };
}
