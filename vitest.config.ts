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
 * - `e2e`: real `wrangler dev` processes and real origins, driven over HTTP from Node: the
 *   gateway and the coordinator Worker, as deployed (`harness/wrangler-dev.ts`);
 * - `repo`: checks of the repository itself (generated docs, wrangler.toml, citations), in Node.
 * No `retry:` anywhere: a flaky test is a bug to fix, not to hide.
 *
 * The two workerd projects run the gateway and the coordinator class in ONE test Worker
 * (`test/support/single-worker.ts`), not the two Workers of the deployment (docs/adr/0010):
 * `runInDurableObject`, `runDurableObjectAlarm` and the eviction helpers only reach objects of a
 * class the test Worker exports itself. So wrangler.toml is read as it is (compatibility date,
 * flags, vars), and two overrides put the class back in: `main`, and a `COORDINATOR` binding
 * without `script_name`, SQLite-backed as `wrangler.coordinator.toml`'s migration makes it. The
 * class then shares the test Worker's environment, so a binding added here (`ORIGIN`) reaches it
 * as the coordinator Worker's own binding would.
 */
/** The second Worker: an origin reached through a service binding. */
const ORIGIN_WORKER = "payments-origin-worker";

/**
 * The workerd projects' `KEY_HASH_SECRET` (a wrangler secret in a deployment): log lines and the
 * admin API carry keyed key hashes, as a deployment's do. A test of a Worker without it
 * overrides it per call.
 */
const KEY_HASH_SECRET = "test-key-hash-secret-0123456789abcdef0123";

/**
 * A project whose tests run inside workerd with the project's `wrangler.toml` and the coordinator
 * class in the same Worker, against the loopback origin `test/support/global-setup.ts` starts;
 * `miniflare` adds to its environment.
 */
function workersProject(
  test: { name: string; include: string[]; exclude?: string[] },
  miniflare: (originUrl: string) => Record<string, unknown>,
) {
  return {
    plugins: [
      cloudflareTest(({ inject }) => ({
        wrangler: { configPath: "./wrangler.toml" },
        main: "./test/support/single-worker.ts",
        remoteBindings: false,
        miniflare: {
          bindings: {
            ORIGIN_URL: inject<string>("originUrl"),
            KEY_HASH_SECRET,
            // How many orders the model-based test runs (test/unit/model): more on demand.
            MODEL_RUNS: process.env.MODEL_RUNS ?? "",
          },
          durableObjects: {
            COORDINATOR: { className: "IdempotencyCoordinator", useSQLite: true },
          },
          ...miniflare(inject<string>("originUrl")),
        },
      })),
    ],
    test: {
      ...test,
      // A bound, not a retry: on 2 busy cores a multi-MiB replay can take more than vitest's 5 s.
      testTimeout: 30_000,
      globalSetup: ["test/support/global-setup.ts"],
    },
  };
}

export default defineConfig({
  test: {
    // Per-request log lines are asserted where they matter; elsewhere they are noise.
    silent: "passed-only",
    projects: [
      workersProject(
        {
          name: "workers",
          include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts"],
          exclude: ["test/integration/origin-binding/**"],
        },
        () => ({}),
      ),
      workersProject(
        {
          name: "workers-origin-binding",
          include: ["test/integration/origin-binding/**/*.test.ts"],
        },
        (originUrl) => ({
          // What `[[services]] binding = "ORIGIN"` gives a deployment (docs/operations.md, "Deploying").
          serviceBindings: { ORIGIN: ORIGIN_WORKER },
          workers: [
            {
              name: ORIGIN_WORKER,
              modules: true,
              scriptPath: "./test/support/origin-worker.js",
              compatibilityDate: "2026-11-01",
              bindings: { LOOPBACK_ORIGIN: originUrl },
            },
          ],
        }),
      ),
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
