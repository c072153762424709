import { parseArgs } from "node:util";
import { startFuzzTarget } from "../harness/fuzz/config.ts";
import { describeFailure, runFuzz } from "../harness/fuzz/run.ts";

/**
 * `npm run fuzz`: the black-box fuzzer over HTTP (docs/development.md, "Fuzzing"), for as long as asked. It
 * starts the test origin and one `wrangler dev` session, runs the cases a seed gives, and prints
 * every failure with the seed and index that replay it, then the case count and the time. Exits
 * 1 on any failure. The same generators and invariants run briefly in `npm test`
 * (`test/e2e/fuzz.test.ts`).
 */

const HELP = `Usage: npm run fuzz -- [options]

  --seed N          the seed of the cases (default: a random one, printed)
  --cases N         how many cases (default 1000)
  --only I          run only case I of the seed (to replay a failure)
  --concurrency N   cases in flight at once (default 4)
  --timeout-ms MS   longest wait for one answer (default 15000)
  --verbose         echo wrangler's output
  -h, --help`;

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    cases: { type: "string" },
    only: { type: "string" },
    concurrency: { type: "string" },
    "timeout-ms": { type: "string" },
    verbose: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help === true) {
  console.log(HELP);
  process.exit(0);
}
const whole = (name: string, text: string | undefined, fallback: number, min: number) => {
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isSafeInteger(value) || value < min)
    throw new Error(`--${name} must be a whole number ≥ ${min}`);
  return value;
};
const seed = whole("seed", values.seed, Math.floor(Math.random() * 2 ** 31), 0);
const cases = whole("cases", values.cases, 1000, 1);
const only = values.only === undefined ? undefined : whole("only", values.only, 0, 0);
const concurrency = whole("concurrency", values.concurrency, 4, 1);
const timeoutMs = whole("timeout-ms", values["timeout-ms"], 15_000, 100);

console.log(
  `fuzz: seed ${seed}, ${only === undefined ? `${cases} cases` : `case ${only}`}; starting wrangler dev…`,
);
const target = await startFuzzTarget();
if (values.verbose === true) target.gateway.process.stdout?.pipe(process.stdout);
let done = 0;
let failed = 0;
let report;
try {
  report = await runFuzz(
    { port: target.gateway.port, origin: target.origin, timeoutMs },
    {
      seed,
      cases,
      concurrency,
      ...(only === undefined ? {} : { only }),
      onCase: (_, bad) => {
        done += 1;
        if (bad) failed += 1;
        if (done % 500 === 0) console.log(`fuzz: ${done} cases, ${failed} failed`);
      },
    },
  );
} finally {
  await target.stop();
}
// wrangler dev rebuilds the Worker when a source file changes: requests in flight then may hang.
const reloads = target.gateway
  .output()
  .split("\n")
  .filter((line) => /Reloading/i.test(line)).length;
if (reloads > 0)
  console.log(
    `fuzz: wrangler dev reloaded the Worker ${reloads} times during the run (a source file changed)`,
  );
const tally = [...report.tally].sort((a, b) => b[1] - a[1]);
console.log(
  `fuzz: what the cases exercised:\n${tally.map(([label, n]) => `  ${n}\t${label}`).join("\n")}`,
);
for (const failure of report.failures) console.log(describeFailure(seed, failure));
if (report.failures.length > 0) {
  // What the gateway logged as unexpected: the other half of a 500.
  const errors = target.gateway
    .output()
    .split("\n")
    .filter((line) => /unexpected-error|ERROR/.test(line));
  const counts = new Map<string, number>();
  for (const line of errors) counts.set(line, (counts.get(line) ?? 0) + 1);
  for (const [line, count] of counts) console.log(`wrangler (${count}×): ${line.trim()}`);
}
const seconds = (report.ms / 1000).toFixed(1);
console.log(
  `fuzz: seed ${seed}: ${report.cases} cases in ${seconds} s, ${report.failures.length} failed` +
    (report.failures.length > 0
      ? ` (replay one with npm run fuzz -- --seed ${seed} --only I)`
      : ""),
);
process.exitCode = report.failures.length > 0 ? 1 : 0;
