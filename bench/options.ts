import path from "node:path";
import { parseArgs } from "node:util";
import { PROJECT_ROOT } from "../harness/wrangler-dev.ts";

/** The command line of `npm run bench` (bench/README.md explains what each scenario shows). */

export const SCENARIOS = ["first", "replay", "retry", "contention", "growth"] as const;
export type Scenario = (typeof SCENARIOS)[number];

/**
 * How the Workers run: `workerd` alone with the deployable bundles (no proxy), or under
 * `wrangler dev` (its proxy in front, a second workerd process).
 */
export const MODES = ["workerd", "wrangler"] as const;
export type Mode = (typeof MODES)[number];

/**
 * The gateway's configurations: `defaults` as deployed (nothing set), `log-off` without the
 * request log line (`IDEMPOTENCY_REQUEST_LOGS=false`), and `defaults-on-disk`, the defaults with
 * the objects' SQLite files on disk instead of tmpfs (workerd alone only: `wrangler dev` keeps
 * them on disk in every configuration). bench/README.md, "Storage", says why.
 */
export const CONFIGS = {
  defaults: { vars: {}, disk: false },
  "log-off": { vars: { IDEMPOTENCY_REQUEST_LOGS: "false" }, disk: false },
  "defaults-on-disk": { vars: {}, disk: true },
  /**
   * Not the gateway: the floor of its design (bench/floor/), the least any gateway that forwards a
   * key once through a coordinator object can cost. First requests and replays only.
   */
  floor: { vars: {}, disk: false },
  /**
   * The gateway as committed at `--baseline REF`, with the defaults: an A/B inside one run, its
   * cells interleaved with the working tree's (bench/README.md, "A/B in one run"). Only with
   * `--baseline`.
   */
  baseline: { vars: {}, disk: false },
} as const satisfies Record<string, { vars: Record<string, string>; disk: boolean }>;
export type ConfigName = keyof typeof CONFIGS;

/** Numeric options: flag, what it sets, default, default with `--quick`. */
const NUMBERS = {
  durationS: ["duration S", "seconds per measured cell", 10, 2],
  warmupS: ["warmup S", "seconds of unmeasured load before each cell", 1, 0.5],
  latencyMs: ["latency MS", "origin latency", 20, 20],
  contentionLatencyMs: ["contention-latency MS", "origin latency, contention scenario", 200, 200],
  contentionN: ["contention N", "concurrent duplicates of one key", 200, 200],
  warmKeys: ["warm-keys N", "keys cycled by the replay scenario", 300, 300],
  growthDurationS: ["growth-duration S", "seconds per growth cell", 3, 1],
  fillMaxS: ["fill-max S", "longest time to store the keys of one growth step", 240, 60],
  quietPct: ["quiet-pct P", "a cell is disturbed when others use > P% of the CPU", 10, 10],
  quietWaitS: ["quiet-wait S", "before each cell, wait up to S s for such load to stop", 60, 10],
  retries: ["retries N", "measure a disturbed cell again, up to N times", 2, 0],
  maxMinutes: ["max-minutes M", "time budget (see bench/README.md)", 14, 14],
} as const;

/** Comma-separated lists of whole numbers: flag, what it sets, default, default with `--quick`. */
const LISTS = {
  shards: ["shards LIST", "IDEMPOTENCY_SHARDS values to compare", "64", "64"],
  connections: ["connections LIST", "autocannon connections", "1,32", "1,32"],
  growth: ["growth LIST", "stored-key steps of the growth scenario", "10000,50000", "2000,5000"],
} as const;

export const HELP = [
  "Usage: npm run bench -- [options]\n",
  "  --quick                  smoke run: short cells, small growth steps, no retries",
  ...Object.values({ ...NUMBERS, ...LISTS }).map(([flag, what, full, quick]) => {
    const defaults = full === quick ? `${full}` : `${full}; ${quick} with --quick`;
    return `  --${flag.padEnd(22)} ${what} (default ${defaults})`;
  }),
  `  --scenarios LIST         ${SCENARIOS.join(",")} (default: all)`,
  `  --modes LIST             ${MODES.join(",")}: workerd alone, or under wrangler dev (default: both)`,
  `  --configs LIST           ${Object.keys(CONFIGS).join(",")}: the gateway's configurations (default: all)`,
  "  --unpinned               no taskset: the load generator may share the targets' cores",
  "  --gateway-var NAME:VALUE an extra wrangler var for every gateway (repeatable)",
  "  --ref GIT_REF            measure the gateway as committed at GIT_REF, not the working tree",
  "  --baseline GIT_REF       also run the gateway at GIT_REF (configuration `baseline`), cells interleaved",
  "  --out DIR                where to write (default bench/results, bench/.tmp/results if quick)",
  "  --render FILE.json       only write the .md of a stored run again",
  "  -h, --help",
].join("\n");

/** Every setting of one run, defaults applied. */
export type Options = Record<keyof typeof NUMBERS, number> &
  Record<keyof typeof LISTS, number[]> & {
    quick: boolean;
    scenarios: Scenario[];
    modes: Mode[];
    configs: ConfigName[];
    /** Targets on cores 1…n−1, the load generator and the origin on core 0 (≥ 2 cores). */
    pinned: boolean;
    gatewayVars: Record<string, string>;
    ref: string | null;
    /** `--baseline REF`: the `baseline` configuration's tree. */
    baseline: string | null;
    out: string;
    render: string | null;
  };

const flagName = (flag: string) => flag.split(" ")[0] as string;

/** Parses `argv`; null when it asks for the help. Throws on a malformed value. */
export function parseOptions(argv: string[]): Options | null {
  const valued = Object.values({ ...NUMBERS, ...LISTS }).map(([flag]) => flagName(flag));
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...Object.fromEntries(
        [...valued, "scenarios", "modes", "configs", "ref", "baseline", "out", "render"].map(
          (name) => [name, { type: "string" }],
        ),
      ),
      unpinned: { type: "boolean" },
      "gateway-var": { type: "string", multiple: true },
      quick: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return null;
  const text = values as Record<string, string | undefined>;
  const quick = values.quick === true;
  const options: Record<string, unknown> = {};
  for (const [key, [flag, , full, ifQuick]] of Object.entries(NUMBERS)) {
    const value = Number(text[flagName(flag)] ?? (quick ? ifQuick : full));
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${flag} must be a number ≥ 0`);
    options[key] = value;
  }
  for (const [key, [flag, , full, ifQuick]] of Object.entries(LISTS)) {
    const list = (text[flagName(flag)] ?? (quick ? ifQuick : full)).split(",").map(Number);
    if (list.some((n) => !Number.isInteger(n) || n < 0)) {
      throw new Error(`--${flag} must be a comma-separated list of whole numbers`);
    }
    options[key] = list;
  }
  const scenarios = (text.scenarios ?? SCENARIOS.join(",")).split(",");
  const unknown = scenarios.find((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown !== undefined) throw new Error(`--scenarios: unknown scenario ${unknown}`);
  const modes = oneOf("modes", text.modes ?? MODES.join(","), MODES);
  const baseline = text.baseline ?? null;
  const everyConfig = (Object.keys(CONFIGS) as ConfigName[]).filter(
    (name) => name !== "baseline" || baseline !== null,
  );
  const configs = oneOf("configs", text.configs ?? everyConfig.join(","), everyConfig);
  const gatewayVars = ((values["gateway-var"] as string[] | undefined) ?? []).map((pair) => {
    const at = pair.indexOf(":");
    if (at <= 0) throw new Error(`--gateway-var wants NAME:VALUE, got ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  });
  return {
    ...(options as Record<keyof typeof NUMBERS, number> & Record<keyof typeof LISTS, number[]>),
    quick,
    scenarios: scenarios as Scenario[],
    modes,
    configs,
    pinned: values.unpinned !== true,
    gatewayVars: Object.fromEntries(gatewayVars),
    ref: text.ref ?? null,
    baseline,
    out: path.resolve(PROJECT_ROOT, text.out ?? (quick ? "bench/.tmp/results" : "bench/results")),
    render: text.render ?? null,
  };
}

/** A comma-separated list of `allowed` values; throws on any other. */
function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const list = text.split(",");
  const wrong = list.find((item) => !(allowed as readonly string[]).includes(item));
  if (wrong !== undefined) throw new Error(`--${flag}: unknown value ${wrong}`);
  return list as T[];
}
