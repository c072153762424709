import { describe, expect, it } from "vitest";
import {
  CONFIG_DEFAULTS,
  type Config,
  type ConfigResult,
  MAX_BODY_LIMIT,
  configFor,
  parseConfig,
} from "../../../src/config/config";

const ORIGIN_URL = "https://origin.example.com";
const MINIMAL_ENV = { ORIGIN_URL } as const;

type Variable = keyof typeof CONFIG_DEFAULTS;

function configOf(env: Readonly<Record<string, unknown>>): Config {
  const result = parseConfig(env);
  if (!result.ok) {
    throw new Error(`expected a valid configuration, got ${JSON.stringify(result.error)}`);
  }
  return result.config;
}

function expectError(result: ConfigResult, variable: string): string {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error("unreachable");
  expect(result.error.variable).toBe(variable);
  expect(result.error.detail).not.toBe("");
  return result.error.detail;
}

/**
 * Values that are wrong for every variable whose value must not be empty. ("abc", "-1" and
 * "1.5" are valid method names: RFC 9110 tokens may hold letters, digits, "-" and ".".)
 */
const GENERALLY_INVALID = ["", "  ", "abc def", "é", "\t"] as const;

/**
 * Invalid values per variable (docs/configuration.md, "Configuration"): for numbers "abc", "-1", "1.5",
 * "", "  " and the values just past each bound; for lists, malformed and repeated items.
 */
const INVALID_VALUES: Readonly<Record<Variable, readonly string[]>> = {
  ORIGIN_URL: [
    ...GENERALLY_INVALID,
    "abc",
    "/relative/path",
    "origin.example.com",
    "ftp://origin.example.com",
    "file:///etc/passwd",
    "https://user:pass@origin.example.com",
    "https://user@origin.example.com",
    "https://origin.example.com/?token=abc",
    "https://origin.example.com/#fragment",
  ],
  IDEMPOTENCY_METHODS: [
    ...GENERALLY_INVALID,
    ",",
    "POST,,PATCH",
    "POST PATCH",
    "POST,post",
    "POST;PATCH",
  ],
  IDEMPOTENCY_KEY_REQUIRED: [
    ...GENERALLY_INVALID,
    "abc",
    "-1",
    "1.5",
    "1",
    "0",
    "yes",
    "TRUE",
    "False",
  ],
  IDEMPOTENCY_KEY_FROM: [
    ...GENERALLY_INVALID,
    "abc",
    "header",
    "header:",
    "header:Bad Name",
    "header:x:y",
    "header:Connection",
    "header:Transfer-Encoding",
    "header:Idempotency-Gateway-Hop",
    "Header:Idempotency-Key",
    "json",
    "json:",
    "json:idempotency_key",
    "json:/a~2",
    "json:/a~",
    "NONE",
    "none ",
  ],
  IDEMPOTENCY_FINGERPRINT: [...GENERALLY_INVALID, "abc", "JSON", "Bytes", "jcs", "json,bytes"],
  IDEMPOTENCY_TTL_SECONDS: [
    ...GENERALLY_INVALID,
    "abc",
    "-1",
    "1.5",
    "0",
    "1e3",
    "0x10",
    " 60",
    "60s",
    String(365 * 24 * 3600 + 1),
    "99999999999999999999999",
  ],
  IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS: [
    "  ",
    "abc def",
    "é",
    "authorization,,x-tenant",
    "x:y",
    "authorization,Authorization",
    "(none),authorization",
  ],
  IDEMPOTENCY_SCOPE_HEADERS: [
    "abc def",
    "é",
    "authorization,,x-tenant",
    "x:y",
    "Authorization,authorization",
  ],
  IDEMPOTENCY_CONCURRENCY: [...GENERALLY_INVALID, "abc", "-1", "1.5", "WAIT", "Reject", "queue"],
  IDEMPOTENCY_WAIT_MS: [...GENERALLY_INVALID, "abc", "-1", "1.5", "1e3", "300001"],
  IDEMPOTENCY_ORIGIN_TIMEOUT_MS: [...GENERALLY_INVALID, "abc", "-1", "1.5", "0", "900001"],
  IDEMPOTENCY_RETRY_STATUSES: [
    "abc def",
    "abc",
    "-1",
    "1.5",
    "99",
    "600",
    // A 1xx–3xx answer is final: releasing its key would forward a success again.
    "200",
    "200,503",
    "100",
    "302",
    "399",
    "429,429",
    "429,,503",
    "429;503",
    // Classes: only 4xx and 5xx, never overlapping a status they hold.
    "1xx",
    "2xx",
    "3xx",
    "6xx",
    "4xxx",
    "x5xx",
    "4xx,429",
    "5xx,5XX",
  ],
  IDEMPOTENCY_MAX_BODY_BYTES: [
    ...GENERALLY_INVALID,
    "abc",
    "-1",
    "1.5",
    "1MB",
    String(MAX_BODY_LIMIT + 1),
  ],
  IDEMPOTENCY_MAX_RESPONSE_BYTES: [
    ...GENERALLY_INVALID,
    "abc",
    "-1",
    "1.5",
    String(MAX_BODY_LIMIT + 1),
  ],
  IDEMPOTENCY_SHARDS: [...GENERALLY_INVALID, "abc", "-1", "1.5", "4097"],
  IDEMPOTENCY_ROUTES: ["  ", "abc", "[]", "1", "{", "null", '"/v1/*"'],
  // "64" equals the default IDEMPOTENCY_SHARDS: a migration from a count to itself is refused.
  IDEMPOTENCY_SHARDS_PREVIOUS: ["  ", "abc", "-1", "1.5", "4097", "64"],
  IDEMPOTENCY_REQUEST_LOGS: [...GENERALLY_INVALID, "1", "yes", "TRUE", "off"],
  IDEMPOTENCY_EDGE_REPLAY_SECONDS: [...GENERALLY_INVALID, "abc", "-1", "1.5", "301"],
  IDEMPOTENCY_PROBE_PATH: [...GENERALLY_INVALID, "health", "OFF", "/a b", "/health#x", "/é"],
  IDEMPOTENCY_STORAGE_LIMIT_BYTES: [
    ...GENERALLY_INVALID,
    "abc",
    "-1",
    "1.5",
    "1048575",
    "9000000001",
  ],
  IDEMPOTENCY_ERROR_DIALECT: [...GENERALLY_INVALID, "Stripe", "braintree", "paypal,square"],
  IDEMPOTENCY_UNKNOWN_OUTCOME: [
    ...GENERALLY_INVALID,
    "abc",
    "Reforward",
    "fail_closed",
    "retry",
    "reforward,fail-closed",
  ],
  // Every value is refused here, where IDEMPOTENCY_UNKNOWN_OUTCOME is the default fail-closed: a
  // window with nothing to re-forward. The values below are refused with `reforward` too.
  IDEMPOTENCY_ORIGIN_KEY_SECONDS: [
    "  ",
    "abc",
    "-1",
    "1.5",
    "0",
    "24h",
    String(365 * 24 * 3600 + 1),
    "86400",
  ],
  IDEMPOTENCY_LOCATION_HINT: ["  ", "mars", "ENAM", "enam,weur", "us-east-1"],
  IDEMPOTENCY_JURISDICTION: ["  ", "de", "EU", "eu,us"],
  // "v1/shards=64" is the default mapping itself: a migration from a mapping to itself is refused.
  IDEMPOTENCY_MAPPING_PREVIOUS: [
    "  ",
    "abc",
    "v1/shards=64",
    "v2/shards=4",
    "v1/shards=04",
    "v1/shards=4097",
    "v1/shards=4/hint=mars",
    "v1/shards=4/hint=enam/jurisdiction=eu",
  ],
};

/** Variables for which "" (and whitespace) is a valid value: an empty list. */
const EMPTY_ALLOWED: readonly Variable[] = [
  "IDEMPOTENCY_SCOPE_HEADERS",
  "IDEMPOTENCY_RETRY_STATUSES",
  "IDEMPOTENCY_ROUTES",
  "IDEMPOTENCY_SHARDS_PREVIOUS",
  "IDEMPOTENCY_LOCATION_HINT",
  "IDEMPOTENCY_JURISDICTION",
  "IDEMPOTENCY_MAPPING_PREVIOUS",
  "IDEMPOTENCY_ORIGIN_KEY_SECONDS",
  "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS",
];

const INVALID_CASES: [Variable, string][] = (Object.keys(INVALID_VALUES) as Variable[]).flatMap(
  (variable) => INVALID_VALUES[variable].map((value): [Variable, string] => [variable, value]),
);

/** An env where every other variable is valid, so an error can only come from `variable`. */
function envWith(variable: Variable, value: unknown): Record<string, unknown> {
  return { ...MINIMAL_ENV, [variable]: value };
}

describe("parseConfig", () => {
  describe("defaults", () => {
    it("fills every variable but ORIGIN_URL with the contract's default", () => {
      const config = configOf(MINIMAL_ENV);
      expect(config.originUrl).toBe(ORIGIN_URL);
      expect([...config.methods].sort()).toEqual(["PATCH", "POST"]);
      expect(config.keyRequired).toBe(false);
      expect(config.ttlSeconds).toBe(86_400);
      expect(config.scopeHeaders).toEqual(["authorization"]);
      expect(config.concurrency).toBe("wait");
      expect(config.waitMs).toBe(10_000);
      expect(config.originTimeoutMs).toBe(30_000);
      expect(config.retryStatuses).toEqual([429, 503]);
      expect(config.maxBodyBytes).toBe(1_048_576);
      expect(config.maxResponseBytes).toBe(10_485_760);
      expect(config.shards).toBe(64);
      expect(config.previousShards).toBeNull();
      expect(config.keySource).toEqual({
        kind: "header",
        name: "Idempotency-Key",
        field: "idempotency-key",
      });
      expect(config.fingerprintMode).toBe("bytes");
      expect(config.unknownOutcome).toBe("fail-closed");
      expect(config.originKeySeconds).toBeNull();
      expect(config.probePath).toBe("/");
    });

    it("has exactly the variables of the contract's table, plus the documented extras", () => {
      expect(Object.keys(CONFIG_DEFAULTS).sort()).toEqual(
        [
          "ORIGIN_URL",
          "IDEMPOTENCY_METHODS",
          "IDEMPOTENCY_KEY_REQUIRED",
          "IDEMPOTENCY_KEY_FROM",
          "IDEMPOTENCY_FINGERPRINT",
          "IDEMPOTENCY_TTL_SECONDS",
          "IDEMPOTENCY_SCOPE_HEADERS",
          "IDEMPOTENCY_SCOPE_HEADERS_PREVIOUS",
          "IDEMPOTENCY_CONCURRENCY",
          "IDEMPOTENCY_WAIT_MS",
          "IDEMPOTENCY_ORIGIN_TIMEOUT_MS",
          "IDEMPOTENCY_RETRY_STATUSES",
          "IDEMPOTENCY_MAX_BODY_BYTES",
          "IDEMPOTENCY_MAX_RESPONSE_BYTES",
          "IDEMPOTENCY_SHARDS",
          "IDEMPOTENCY_SHARDS_PREVIOUS",
          "IDEMPOTENCY_REQUEST_LOGS",
          "IDEMPOTENCY_EDGE_REPLAY_SECONDS",
          "IDEMPOTENCY_ROUTES",
          "IDEMPOTENCY_ERROR_DIALECT",
          "IDEMPOTENCY_LOCATION_HINT",
          "IDEMPOTENCY_JURISDICTION",
          "IDEMPOTENCY_MAPPING_PREVIOUS",
          "IDEMPOTENCY_STORAGE_LIMIT_BYTES",
          "IDEMPOTENCY_UNKNOWN_OUTCOME",
          "IDEMPOTENCY_ORIGIN_KEY_SECONDS",
          "IDEMPOTENCY_PROBE_PATH",
        ].sort(),
      );
    });

    it("parses each documented default string to the same value as leaving it unset", () => {
      const explicit: Record<string, unknown> = { ...MINIMAL_ENV };
      for (const [name, value] of Object.entries(CONFIG_DEFAULTS)) {
        if (value !== undefined) explicit[name] = value;
      }
      expect(configOf(explicit)).toEqual(configOf(MINIMAL_ENV));
    });

    it("returns a frozen configuration", () => {
      const config = configOf(MINIMAL_ENV);
      expect(Object.isFrozen(config)).toBe(true);
      expect(Object.isFrozen(config.scopeHeaders)).toBe(true);
      expect(Object.isFrozen(config.retryStatuses)).toBe(true);
    });

    it("ignores variables it does not read", () => {
      expect(configOf({ ...MINIMAL_ENV, UNRELATED: 42, ADMIN_TOKEN: "t" })).toEqual(
        configOf(MINIMAL_ENV),
      );
    });
  });

  describe("ORIGIN_URL", () => {
    it("is required: an env without it is an error naming ORIGIN_URL", () => {
      expectError(parseConfig({}), "ORIGIN_URL");
    });

    it.each([
      ["https://origin.example.com/", "https://origin.example.com"],
      ["https://origin.example.com", "https://origin.example.com"],
      ["https://origin.example.com/base/", "https://origin.example.com/base"],
      ["https://origin.example.com/base//", "https://origin.example.com/base"],
      ["http://127.0.0.1:8788/", "http://127.0.0.1:8788"],
    ])("reads %j as %j (trailing slashes stripped)", (value, expected) => {
      expect(configOf({ ORIGIN_URL: value }).originUrl).toBe(expected);
    });

    it.each([
      "https://origin.example.com/",
      "https://origin.example.com/base/",
      "http://127.0.0.1:8788",
    ])("accepts %j, as a base that path and query can be appended to", (value) => {
      const target = new URL(
        `${configOf({ ORIGIN_URL: value }).originUrl}/v1/payments?expand=customer`,
      );
      expect(target.pathname.endsWith("/v1/payments")).toBe(true);
      expect(target.search).toBe("?expand=customer");
    });

    it.each(["https://origin.example.com/?", "https://origin.example.com/#"])(
      "refuses %j: even an empty query or fragment would end up between the base and the path",
      (value) => {
        expectError(parseConfig({ ORIGIN_URL: value }), "ORIGIN_URL");
      },
    );
  });

  describe("rejects every invalid value, naming its variable", () => {
    it.each(INVALID_CASES)("%s=%j", (variable, value) => {
      expectError(parseConfig(envWith(variable, value)), variable);
    });

    it("covers every variable in CONFIG_DEFAULTS with invalid values", () => {
      for (const variable of Object.keys(CONFIG_DEFAULTS) as Variable[]) {
        expect(INVALID_VALUES[variable].length).toBeGreaterThan(0);
      }
    });

    it.each((Object.keys(CONFIG_DEFAULTS) as Variable[]).filter((v) => !EMPTY_ALLOWED.includes(v)))(
      'rejects %s="" and does NOT fall back to its default',
      (variable) => {
        expectError(parseConfig(envWith(variable, "")), variable);
        expectError(parseConfig(envWith(variable, "  ")), variable);
      },
    );

    it.each<[Variable, unknown]>([
      ["ORIGIN_URL", 42],
      ["IDEMPOTENCY_KEY_REQUIRED", false],
      ["IDEMPOTENCY_TTL_SECONDS", 3600],
      ["IDEMPOTENCY_METHODS", ["POST"]],
      ["IDEMPOTENCY_RETRY_STATUSES", [429]],
      ["IDEMPOTENCY_SHARDS", { count: 4 }],
    ])("rejects a non-string %s (%j) and says it must be a string", (variable, value) => {
      expect(expectError(parseConfig(envWith(variable, value)), variable)).toMatch(/string/);
    });

    it("reports the problem in the detail, not only the name", () => {
      const detail = expectError(
        parseConfig(envWith("IDEMPOTENCY_TTL_SECONDS", "0")),
        "IDEMPOTENCY_TTL_SECONDS",
      );
      expect(detail).toMatch(/between 1 and/);
    });
  });

  describe("settings that would break exactly-once", () => {
    it("refuses a TTL shorter than the origin timeout plus the lease grace, naming the TTL", () => {
      const detail = expectError(
        parseConfig({ ...MINIMAL_ENV, IDEMPOTENCY_TTL_SECONDS: "34" }),
        "IDEMPOTENCY_TTL_SECONDS",
      );
      expect(detail).toMatch(/at least 35 s/);
      expectError(
        parseConfig({
          ...MINIMAL_ENV,
          IDEMPOTENCY_TTL_SECONDS: "60",
          IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "56000",
        }),
        "IDEMPOTENCY_TTL_SECONDS",
      );
    });

    it("accepts a TTL exactly as long as the origin timeout plus the lease grace", () => {
      expect(
        configOf({
          ...MINIMAL_ENV,
          IDEMPOTENCY_TTL_SECONDS: "6",
          IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "1000",
        }).ttlSeconds,
      ).toBe(6);
    });

    it("refuses a retry status in 1xx–3xx and says why", () => {
      const detail = expectError(
        parseConfig(envWith("IDEMPOTENCY_RETRY_STATUSES", "200,503")),
        "IDEMPOTENCY_RETRY_STATUSES",
      );
      expect(detail).toMatch(/4xx or 5xx/);
    });

    it("reads reforward with the origin's key window, in seconds", () => {
      const config = configOf({
        ...MINIMAL_ENV,
        IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
        IDEMPOTENCY_ORIGIN_KEY_SECONDS: "86400",
      });
      expect(config.unknownOutcome).toBe("reforward");
      expect(config.originKeySeconds).toBe(86_400);
    });

    it("accepts an origin key window longer than the TTL (re-forwarding stops at the TTL)", () => {
      expect(
        configOf({
          ...MINIMAL_ENV,
          IDEMPOTENCY_TTL_SECONDS: "3600",
          IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
          IDEMPOTENCY_ORIGIN_KEY_SECONDS: "604800",
        }).originKeySeconds,
      ).toBe(604_800);
    });

    it.each(["", "  "])(
      "refuses reforward without IDEMPOTENCY_ORIGIN_KEY_SECONDS (%j), naming the window",
      (window) => {
        const detail = expectError(
          parseConfig({
            ...MINIMAL_ENV,
            IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
            ...(window === "" ? {} : { IDEMPOTENCY_ORIGIN_KEY_SECONDS: window }),
          }),
          "IDEMPOTENCY_ORIGIN_KEY_SECONDS",
        );
        expect(detail).not.toBe("");
      },
    );

    it("refuses reforward with no window at all and says it is required", () => {
      const detail = expectError(
        parseConfig({ ...MINIMAL_ENV, IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward" }),
        "IDEMPOTENCY_ORIGIN_KEY_SECONDS",
      );
      expect(detail).toMatch(/required/);
    });

    it("refuses a window with fail-closed, and does NOT ignore it", () => {
      const detail = expectError(
        parseConfig({ ...MINIMAL_ENV, IDEMPOTENCY_ORIGIN_KEY_SECONDS: "86400" }),
        "IDEMPOTENCY_ORIGIN_KEY_SECONDS",
      );
      expect(detail).toMatch(/fail-closed/);
    });

    it("refuses a window no longer than the origin timeout: no re-forward could fit in it", () => {
      expectError(
        parseConfig({
          ...MINIMAL_ENV,
          IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward",
          IDEMPOTENCY_ORIGIN_KEY_SECONDS: "30",
        }),
        "IDEMPOTENCY_ORIGIN_KEY_SECONDS",
      );
    });

    it("refuses a route that turns reforward on without a window, naming the route", () => {
      const detail = expectError(
        parseConfig({
          ...MINIMAL_ENV,
          IDEMPOTENCY_ROUTES: JSON.stringify({
            "/v1/charges": { IDEMPOTENCY_UNKNOWN_OUTCOME: "reforward" },
          }),
        }),
        'IDEMPOTENCY_ROUTES["/v1/charges"].IDEMPOTENCY_ORIGIN_KEY_SECONDS',
      );
      expect(detail).toMatch(/required/);
    });

    it.each(["IDEMPOTENCY_SHARDS_NEXT", "IDEMPOTENCY_KEY_SOURCE", "IDEMPOTENCY_TTL"])(
      "refuses the unknown variable %s, naming it, instead of ignoring it",
      (name) => {
        const detail = expectError(parseConfig({ ...MINIMAL_ENV, [name]: "x" }), name);
        expect(detail).toMatch(/not a setting of this gateway version/);
      },
    );
  });

  describe("lists", () => {
    it("upper-cases methods and trims the whitespace around items", () => {
      expect([...configOf(envWith("IDEMPOTENCY_METHODS", " post , Put,DELETE ")).methods]).toEqual([
        "POST",
        "PUT",
        "DELETE",
      ]);
    });

    it("lower-cases scope headers and keeps their configured order", () => {
      expect(
        configOf(envWith("IDEMPOTENCY_SCOPE_HEADERS", "X-Tenant, Authorization")).scopeHeaders,
      ).toEqual(["x-tenant", "authorization"]);
    });

    it.each(["", "  "])(
      "reads IDEMPOTENCY_SCOPE_HEADERS=%j as one global scope (no headers)",
      (value) => {
        expect(configOf(envWith("IDEMPOTENCY_SCOPE_HEADERS", value)).scopeHeaders).toEqual([]);
      },
    );

    it.each(["", "  "])("reads IDEMPOTENCY_RETRY_STATUSES=%j as no retry statuses", (value) => {
      expect(configOf(envWith("IDEMPOTENCY_RETRY_STATUSES", value)).retryStatuses).toEqual([]);
    });

    it("reads retry statuses as numbers in configured order", () => {
      expect(configOf(envWith("IDEMPOTENCY_RETRY_STATUSES", "503, 429,502")).retryStatuses).toEqual(
        [503, 429, 502],
      );
    });

    it("rejects methods repeated in another case, naming IDEMPOTENCY_METHODS", () => {
      const detail = expectError(
        parseConfig(envWith("IDEMPOTENCY_METHODS", "POST,post")),
        "IDEMPOTENCY_METHODS",
      );
      expect(detail).toMatch(/repeat/);
    });

    it("rejects scope headers repeated in another case, naming IDEMPOTENCY_SCOPE_HEADERS", () => {
      expectError(
        parseConfig(envWith("IDEMPOTENCY_SCOPE_HEADERS", "authorization,AUTHORIZATION")),
        "IDEMPOTENCY_SCOPE_HEADERS",
      );
    });
  });

  describe("values", () => {
    it.each<[Variable, string, keyof Config, unknown]>([
      ["IDEMPOTENCY_KEY_REQUIRED", "true", "keyRequired", true],
      ["IDEMPOTENCY_KEY_REQUIRED", "false", "keyRequired", false],
      ["IDEMPOTENCY_CONCURRENCY", "reject", "concurrency", "reject"],
      ["IDEMPOTENCY_PROBE_PATH", "/health?probe=1", "probePath", "/health?probe=1"],
      ["IDEMPOTENCY_PROBE_PATH", "off", "probePath", null],
      ["IDEMPOTENCY_TTL_SECONDS", "35", "ttlSeconds", 35],
      ["IDEMPOTENCY_TTL_SECONDS", String(365 * 24 * 3600), "ttlSeconds", 365 * 24 * 3600],
      ["IDEMPOTENCY_WAIT_MS", "0", "waitMs", 0],
      ["IDEMPOTENCY_WAIT_MS", "300000", "waitMs", 300_000],
      ["IDEMPOTENCY_ORIGIN_TIMEOUT_MS", "1", "originTimeoutMs", 1],
      ["IDEMPOTENCY_ORIGIN_TIMEOUT_MS", "900000", "originTimeoutMs", 900_000],
      ["IDEMPOTENCY_MAX_BODY_BYTES", "0", "maxBodyBytes", 0],
      ["IDEMPOTENCY_MAX_BODY_BYTES", String(MAX_BODY_LIMIT), "maxBodyBytes", MAX_BODY_LIMIT],
      [
        "IDEMPOTENCY_MAX_RESPONSE_BYTES",
        String(MAX_BODY_LIMIT),
        "maxResponseBytes",
        MAX_BODY_LIMIT,
      ],
      ["IDEMPOTENCY_SHARDS", "4096", "shards", 4096],
      [
        "IDEMPOTENCY_KEY_FROM",
        "header:PayPal-Request-Id",
        "keySource",
        { kind: "header", name: "PayPal-Request-Id", field: "paypal-request-id" },
      ],
      [
        "IDEMPOTENCY_KEY_FROM",
        "json:/idempotency_key",
        "keySource",
        { kind: "json", pointer: "/idempotency_key", tokens: ["idempotency_key"] },
      ],
      ["IDEMPOTENCY_KEY_FROM", "none", "keySource", { kind: "none" }],
      ["IDEMPOTENCY_FINGERPRINT", "json", "fingerprintMode", "json"],
    ])("reads %s=%j as %s %j", (variable, value, field, expected) => {
      expect(configOf(envWith(variable, value))[field]).toEqual(expected);
    });
  });
});

describe("configFor", () => {
  it("parses an env object once and answers the same result for it afterwards", () => {
    const env = { ...MINIMAL_ENV };
    const first = configFor(env);
    expect(configFor(env)).toBe(first);
  });

  it("does NOT share the cached result between different env objects", () => {
    const valid = configFor({ ...MINIMAL_ENV });
    const invalid = configFor({ ...MINIMAL_ENV, IDEMPOTENCY_TTL_SECONDS: "abc" });
    expect(valid.ok).toBe(true);
    expect(invalid.ok).toBe(false);
    expect(configFor({ ...MINIMAL_ENV })).not.toBe(valid);
  });

  it("caches an invalid configuration too", () => {
    const env = { IDEMPOTENCY_TTL_SECONDS: "abc" };
    const first = configFor(env);
    expect(first.ok).toBe(false);
    expect(configFor(env)).toBe(first);
  });

  it("answers the same as parseConfig", () => {
    const env = { ...MINIMAL_ENV, IDEMPOTENCY_SHARDS: "8" };
    expect(configFor(env)).toEqual(parseConfig(env));
  });
});
