/**
 * The Worker's environment: what `wrangler types` generates from wrangler.toml (`Env`), plus the
 * optional bindings a deployment may add without touching the code.
 */
export type GatewayEnv = Env & {
  /** `wrangler secret put ADMIN_TOKEN`: enables the admin key endpoints. */
  ADMIN_TOKEN?: string;
  /** An `analytics_engine_datasets` binding: enables metrics. */
  METRICS?: AnalyticsEngineDataset;
  /**
   * A service binding to an origin that is itself a Worker (`[[services]] binding = "ORIGIN"`):
   * when present, the origin is called through it instead of `ORIGIN_URL` (README, "Deploying").
   */
  ORIGIN?: Fetcher;
};

/**
 * The `ORIGIN` service binding of an environment, if it has one. Read from any `env` (the
 * Worker's, or a coordinator's: both are the same deployment's bindings).
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
