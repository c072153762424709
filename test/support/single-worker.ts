/**
 * The Worker the workerd test projects run (`vitest.config.ts`): the gateway's handler and the
 * coordinator class in one Worker, the shape the project had before the coordinator got a Worker
 * of its own (docs/adr/0010). `runInDurableObject`, `runDurableObjectAlarm` and the eviction
 * helpers reach only objects whose class the test Worker itself exports. Everything that runs
 * `wrangler dev` (the e2e tests, `npm start`, the bench and the soak) runs the two real Workers.
 */
export { default } from "../../src/index";
export { IdempotencyCoordinator } from "../../src/coordinator/coordinator";
