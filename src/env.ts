/**
 * The gateway Worker's environment: what `wrangler types` generates from wrangler.toml (`Env`,
 * with `COORDINATOR` typed by the coordinator Worker's entry, the second config it reads), plus the
 * optional bindings a deployment may add without touching the code.
 */
export type GatewayEnv = Env & {
  /** `wrangler secret put ADMIN_TOKEN`: enables the admin key endpoints. */
  ADMIN_TOKEN?: string;
  /**
   * `wrangler secret put KEY_HASH_SECRET`: keys the key hash of log lines and of the admin API
   * (src/core/key-hash.ts). Without it log lines carry no key hash and the admin API is off.
   */
  KEY_HASH_SECRET?: string;
  /** An `analytics_engine_datasets` binding: enables metrics. */
  METRICS?: AnalyticsEngineDataset;
  /**
   * A service binding to an origin that is itself a Worker (`[[services]] binding = "ORIGIN"`):
   * when present, the origin is called through it instead of `ORIGIN_URL` (docs/operations.md, "Deploying").
   */
  ORIGIN?: Fetcher;
};

/**
 * The coordinator Worker's environment (`wrangler.coordinator.toml`): its own class's namespace,
 * which the coordinator uses to reach other objects of its class (the mapping registry, relays),
 * and the origin Worker when it is bound. No variables: every setting reaches the coordinator in
 * the command the gateway sends (`src/coordinator/protocol.ts`).
 */
export type CoordinatorEnv = Pick<Env, "COORDINATOR"> & {
  /**
   * A service binding to an origin that is itself a Worker: covered requests are forwarded
   * through it (docs/operations.md, "Deploying").
   */
  ORIGIN?: Fetcher;
};

/**
 * The `ORIGIN` service binding of an environment, if it has one. Read from any `env`: the gateway
 * Worker's (uncovered requests) or the coordinator Worker's (covered requests), each of which
 * binds the origin Worker in its own wrangler config.
 *
 * @example
 * const binding = originBinding(env);
 * const response = await (binding?.fetch(url) ?? fetch(url));
 */
export function originBinding(env: object): Fetcher | undefined {
  const binding: unknown = (env as { ORIGIN?: unknown }).ORIGIN;
  if (typeof binding !== "object" || binding === null) return undefined;
  return typeof (binding as { fetch?: unknown }).fetch === "function"
    ? (binding as Fetcher)
    : undefined;
}
