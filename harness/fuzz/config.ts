import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestOrigin, type TestOrigin } from "../test-origin.ts";
import { startWranglerDev, type WranglerDev } from "../wrangler-dev.ts";

/**
 * The gateway the fuzzer talks to: one `wrangler dev` session (the gateway and its coordinator
 * Worker) in front of the test origin, configured with a route for each way a key can be read,
 * each fingerprint mode and each method policy, so that one session serves every case. The
 * routes are described twice, once as `IDEMPOTENCY_ROUTES` for the gateway and once as the
 * model the invariants reason with (`FUZZ_ROUTES`): both are built from the same table.
 */

/** The admin token: the 32 characters the README asks for, and more. */
export const FUZZ_ADMIN_TOKEN = "fuzz-admin-token-0123456789-abcdefghij";

/** Keys the key hashes of log lines and the admin API (src/core/key-hash.ts), which needs one. */
export const FUZZ_KEY_HASH_SECRET = "fuzz-key-hash-secret-0123456789-abcdefghij";

/** The scope headers: Stripe's `Authorization`, and Adyen's `X-API-Key`. */
export const FUZZ_SCOPE_HEADERS = ["authorization", "x-api-key"] as const;

/** Where a route's key is, as the model sees it. */
export type KeyPlace =
  { kind: "header"; field: string } | { kind: "json"; member: string } | { kind: "none" };

/** One route of the fuzzed gateway, as the invariants model it. */
export interface RouteModel {
  /** The path prefix (its pattern is the prefix followed by `*`, or exactly it for `/hang`). */
  prefix: string;
  /** Covered methods. */
  methods: readonly string[];
  key: KeyPlace;
  keyRequired: boolean;
  fingerprint: "bytes" | "json";
  maxBodyBytes: number;
  /** The overrides, as `IDEMPOTENCY_ROUTES` takes them (empty: the defaults). */
  overrides: Record<string, string>;
}

const DEFAULT_KEY: KeyPlace = { kind: "header", field: "idempotency-key" };
const DEFAULTS = {
  methods: ["POST", "PATCH"],
  key: DEFAULT_KEY,
  keyRequired: true,
  fingerprint: "bytes",
  maxBodyBytes: 1_048_576,
  overrides: {},
} as const;

/**
 * The routes, by name. `stripe` and `status` have the defaults but one: keys are required on the
 * whole gateway (`fuzzVars`), so that a missing key is fuzzed too; `optional` has the default
 * (`false`) back. The others override some.
 */
export const FUZZ_ROUTES = {
  stripe: { ...DEFAULTS, prefix: "/v1/" },
  status: { ...DEFAULTS, prefix: "/status/" },
  json: {
    ...DEFAULTS,
    prefix: "/json/",
    fingerprint: "json",
    overrides: { IDEMPOTENCY_FINGERPRINT: "json" },
  },
  paypal: {
    ...DEFAULTS,
    prefix: "/paypal/",
    key: { kind: "header", field: "paypal-request-id" },
    overrides: { IDEMPOTENCY_KEY_FROM: "header:PayPal-Request-Id" },
  },
  square: {
    ...DEFAULTS,
    prefix: "/square/",
    key: { kind: "json", member: "idempotency_key" },
    fingerprint: "json",
    overrides: { IDEMPOTENCY_KEY_FROM: "json:/idempotency_key", IDEMPOTENCY_FINGERPRINT: "json" },
  },
  squareBytes: {
    ...DEFAULTS,
    prefix: "/square-bytes/",
    key: { kind: "json", member: "idempotency_key" },
    overrides: { IDEMPOTENCY_KEY_FROM: "json:/idempotency_key" },
  },
  put: {
    ...DEFAULTS,
    prefix: "/put/",
    methods: ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    overrides: { IDEMPOTENCY_METHODS: "POST,PUT,PATCH,DELETE,OPTIONS" },
  },
  get: {
    ...DEFAULTS,
    prefix: "/get/",
    methods: ["GET", "HEAD", "POST"],
    overrides: { IDEMPOTENCY_METHODS: "GET,HEAD,POST" },
  },
  none: {
    ...DEFAULTS,
    prefix: "/none/",
    key: { kind: "none" },
    overrides: { IDEMPOTENCY_KEY_FROM: "none" },
  },
  optional: {
    ...DEFAULTS,
    prefix: "/optional/",
    keyRequired: false,
    overrides: { IDEMPOTENCY_KEY_REQUIRED: "false" },
  },
  small: {
    ...DEFAULTS,
    prefix: "/small/",
    maxBodyBytes: 64,
    overrides: { IDEMPOTENCY_MAX_BODY_BYTES: "64" },
  },
  hang: {
    ...DEFAULTS,
    prefix: "/hang",
    overrides: { IDEMPOTENCY_ORIGIN_TIMEOUT_MS: "100" },
  },
} satisfies Record<string, RouteModel>;

/** A route's name. */
export type RouteName = keyof typeof FUZZ_ROUTES;

/** The routes a fuzzed API request goes to (`hang` only serves the admin resolve flow). */
export const API_ROUTES = (Object.keys(FUZZ_ROUTES) as RouteName[]).filter((r) => r !== "hang");

/** The `--var`s of the fuzzed gateway. */
export function fuzzVars(originUrl: string): Record<string, string> {
  const routes: Record<string, Record<string, string>> = {};
  for (const route of Object.values(FUZZ_ROUTES) as RouteModel[]) {
    if (Object.keys(route.overrides).length === 0) continue;
    routes[route.prefix.endsWith("/") ? `${route.prefix}*` : route.prefix] = route.overrides;
  }
  return {
    ORIGIN_URL: originUrl,
    ADMIN_TOKEN: FUZZ_ADMIN_TOKEN,
    KEY_HASH_SECRET: FUZZ_KEY_HASH_SECRET,
    IDEMPOTENCY_SCOPE_HEADERS: FUZZ_SCOPE_HEADERS.join(","),
    IDEMPOTENCY_ROUTES: JSON.stringify(routes),
    // Not the default (`false`): every route but `optional` refuses a request without a key.
    IDEMPOTENCY_KEY_REQUIRED: "true",
    // A log line per request costs wrangler's CPU; errors are still logged.
    IDEMPOTENCY_REQUEST_LOGS: "false",
  };
}

/** The running gateway and origin. */
export interface FuzzTarget {
  gateway: WranglerDev;
  origin: TestOrigin;
  stop(): Promise<void>;
}

/** Starts the test origin, then the gateway in front of it with its own state folder. */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const origin = await startTestOrigin();
  const state = mkdtempSync(path.join(tmpdir(), "idem-fuzz-"));
  let gateway: WranglerDev;
  try {
    gateway = await startWranglerDev({ vars: fuzzVars(origin.url), persistTo: state });
  } catch (error) {
    await origin.close();
    rmSync(state, { recursive: true, force: true });
    throw error;
  }
  return {
    gateway,
    origin,
    async stop() {
      await gateway.stop();
      await origin.close();
      rmSync(state, { recursive: true, force: true });
    },
  };
}
