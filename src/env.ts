/**
 * The Worker's environment: what `wrangler types` generates from wrangler.toml (`Env`), plus the
 * optional bindings a deployment may add without touching the code.
 */
export type GatewayEnv = Env & {
  /** `wrangler secret put ADMIN_TOKEN`: enables the admin key endpoints. */
  ADMIN_TOKEN?: string;
  /** An `analytics_engine_datasets` binding: enables metrics. */
  METRICS?: AnalyticsEngineDataset;
};
