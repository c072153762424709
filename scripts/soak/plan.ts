/**
 * The soak's workload, decided up front from a seed: which scenario each key plays for its whole
 * life (so its fingerprint never changes), which credential it is pinned to, and the order in
 * which requests are sent — shuffled duplicates, a hot set of keys that gets most of them, and a
 * few bursts of simultaneous duplicates.
 */

/** What the origin does with a key's request, and so what the contract says the answer is. */
export type Scenario = "normal" | "status503" | "status500" | "reset" | "truncate" | "hang";

export const SCENARIOS: readonly Scenario[] = [
  "normal",
  "status503",
  "status500",
  "reset",
  "truncate",
  "hang",
];

/** Share of keys per scenario (issue 6, "Load"). */
const MIX: readonly (readonly [Scenario, number])[] = [
  ["normal", 0.8],
  ["status503", 0.05],
  ["status500", 0.05],
  ["reset", 0.04],
  ["truncate", 0.03],
  ["hang", 0.03],
];

/** The path each scenario sends (the test origin behaves by path). */
export const SCENARIO_PATH: Readonly<Record<Scenario, string>> = {
  normal: "/v1/charges",
  status503: "/status/503",
  status500: "/status/500",
  reset: "/reset",
  truncate: "/truncate",
  hang: "/hang",
};

/** Whether the contract releases the key after the origin's answer (a retry status). */
export function releases(scenario: Scenario): boolean {
  return scenario === "status503";
}

/** One key for the whole run. */
export interface KeySpec {
  index: number;
  /** The Idempotency-Key value (bare form). Unique per run, so the origin's log is unambiguous. */
  key: string;
  scenario: Scenario;
  path: string;
  /** `Bearer sk_soak_<index % 3>`: the key's scope, pinned for its life. */
  authorization: string;
  /** `{"amount":<n>}` with a key-specific amount. */
  body: string;
}

/** One unit of work for the pool: one request, or a burst of simultaneous duplicates. */
export interface Job {
  key: number;
  /** How many requests for the key to send at once (1 for an ordinary request). */
  count: number;
}

export interface Plan {
  keys: KeySpec[];
  jobs: Job[];
  /** Total requests the jobs send (≥ the number of jobs, because of bursts). */
  requests: number;
  bursts: number;
  hotKeys: number;
}

/** mulberry32: small, fast, good enough for a workload; the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

function pickScenario(random: () => number): Scenario {
  let r = random();
  for (const [scenario, share] of MIX) {
    if (r < share) return scenario;
    r -= share;
  }
  return "normal";
}

/**
 * Builds the workload: `requests` requests over `keyCount` keys. Every key is sent at least once;
 * half of the other requests go to a hot 10% of the keys (many duplicates, often concurrent), the
 * rest uniformly. About one request in a thousand starts a burst of 10–50 simultaneous duplicates,
 * always on a key's first appearance, so the burst races the key's first forward.
 *
 * @param runId - makes the keys unique to this run
 */
export function buildPlan(requests: number, keyCount: number, seed: number, runId: string): Plan {
  const random = prng(seed);
  const keys: KeySpec[] = [];
  for (let index = 0; index < keyCount; index++) {
    const scenario = pickScenario(random);
    keys.push({
      index,
      key: `soak-${runId}-${index}`,
      scenario,
      path: SCENARIO_PATH[scenario],
      authorization: `Bearer sk_soak_${index % 3}`,
      body: JSON.stringify({ amount: 100 + ((index * 7919 + seed) % 99_900) }),
    });
  }

  const hotKeys = Math.max(1, Math.floor(keyCount / 10));
  const hot = shuffle(
    keys.map((k) => k.index),
    random,
  ).slice(0, hotKeys);
  const bursts = Math.min(Math.floor(requests / 1000), Math.floor(keyCount / 10));
  const burstSizes: number[] = [];
  let burstRequests = 0;
  for (let i = 0; i < bursts; i++) {
    const size = 10 + Math.floor(random() * 41);
    burstSizes.push(size);
    burstRequests += size;
  }

  // Each key once, then the duplicates; bursts replace their key's first single request.
  const picks: number[] = keys.map((k) => k.index);
  const extra = Math.max(0, requests - keyCount - (burstRequests - bursts));
  for (let i = 0; i < extra; i++) {
    picks.push(
      random() < 0.5
        ? (hot[Math.floor(random() * hot.length)] as number)
        : Math.floor(random() * keyCount),
    );
  }
  shuffle(picks, random);

  // Burst keys: drawn from all keys, a mix of scenarios (each distinct).
  const burstKeys = new Map<number, number>();
  const candidates = shuffle(
    keys.map((k) => k.index),
    random,
  );
  for (let i = 0; i < bursts; i++) burstKeys.set(candidates[i] as number, burstSizes[i] as number);

  const jobs: Job[] = [];
  const seen = new Set<number>();
  let total = 0;
  for (const key of picks) {
    const burst = burstKeys.get(key);
    const count = burst !== undefined && !seen.has(key) ? burst : 1;
    seen.add(key);
    jobs.push({ key, count });
    total += count;
  }
  return { keys, jobs, requests: total, bursts, hotKeys };
}
