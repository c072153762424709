import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * Four projects, one `npm test`:
 * - `workers`: `test/unit` (the pure modules) and `test/integration` (the Worker and its Durable
 *   Object), inside workerd — the runtime they ship to — against a real HTTP origin on 127.0.0.1
 *   started by `test/support/global-setup.ts`;
 * - `workers-origin-binding`: the same Worker deployed with an `ORIGIN` service binding to a
 *   second, real Worker (`test/support/origin-worker.js`), as a deployment fronting a Worker
 *   would be; a separate project because the binding is part of the environment every object of
 *   the deployment shares (`test/integration/origin-binding/`);
 * - `e2e`: real `wrangler dev` processes and real origins, driven over HTTP from Node;
 * - `repo`: checks of the repository itself (generated docs, wrangler.toml, citations), in Node.
 * No `retry:` anywhere: a flaky test is a bug to fix, not to hide.
 */
/** The second Worker: an origin reached through a service binding. */
const ORIGIN_WORKER = "payments-origin-worker";

export default defineConfig({
  test: {
    // Per-request log lines are asserted where they matter; elsewhere they are noise.
    silent: "passed-only",
    projects: [
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            remoteBindings: false,
            miniflare: {
              bindings: {
                ORIGIN_URL: inject<string>("originUrl"),
              },
            },
          })),
        ],
        test: {
          name: "workers",
          // A bound, not a retry: on 2 busy cores a multi-MiB replay can take more than vitest's 5 s.
          testTimeout: 30_000,
          include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
          exclude: ["test/integration/origin-binding/**"],
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            remoteBindings: false,
            miniflare: {
              bindings: {
                ORIGIN_URL: inject<string>("originUrl"),
              },
              // What `[[services]] binding = "ORIGIN"` gives a deployment (README, "Deploying").
              serviceBindings: { ORIGIN: ORIGIN_WORKER },
              workers: [
                {
                  name: ORIGIN_WORKER,
                  modules: true,
                  scriptPath: "./test/support/origin-worker.js",
                  compatibilityDate: "2026-11-01",
                  bindings: { LOOPBACK_ORIGIN: inject<string>("originUrl") },
                },
              ],
            },
          })),
        ],
        test: {
          name: "workers-origin-binding",
          testTimeout: 30_000,
          include: ["test/integration/origin-binding/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 90_000,
        },
      },
      {
        test: {
          name: "repo",
          include: ["test/repo/**/*.test.ts"],
          environment: "node",
        },
      },
    ],
  },
});
