import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * Two projects, one `npm test`:
 * - `workers`: `test/unit` (the pure modules) and `test/integration` (the Worker and its Durable
 *   Object), inside workerd — the runtime they ship to — against a real HTTP origin on 127.0.0.1
 *   started by `test/support/global-setup.ts`;
 * - `e2e`: real `wrangler dev` processes and real origins, driven over HTTP from Node;
 * - `repo`: checks of the repository itself (generated docs, wrangler.toml, citations), in Node.
 * No `retry:` anywhere: a flaky test is a bug to fix, not to hide.
 */
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
