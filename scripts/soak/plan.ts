/**
 * The soak's workload, decided up front from a seed: which scenario each key plays for its whole
 * life (so its fingerprint never changes), which credential it is pinned to, and the order in
 * which requests are sent — shuffled duplicates, a hot set of keys that gets most of them, and a
 * few bursts of simultaneous duplicates.
 */

/**
 * What the origin (harness/test-origin.ts, which behaves by path) does with a key's requests:
 * the share of keys that play it, the path, and the status it answers with (none: it resets,
 * truncates or hangs, so the gateway answers `504 origin-outcome-unknown`).
 */
export const SCENARIOS = {
  normal: { share: 0.8, path: "/v1/charges", originStatus: 201 },
  status503: { share: 0.05, path: "/status/503", originStatus: 503 },
  status500: { share: 0.05, path: "/status/500", originStatus: 500 },
  reset: { share: 0.04, path: "/reset", originStatus: undefined },
  truncate: { share: 0.03, path: "/truncate", originStatus: undefined },
  hang: { share: 0.03, path: "/hang", originStatus: undefined },
} as const satisfies Record<
  string,
  { share: number; path: string; originStatus: number | undefined }
>;

export type Scenario = keyof typeof SCENARIOS;

/** One key for the whole run. */
export interface KeySpec {
  index: number;
  /** The Idempotency-Key value. Unique per run, so the origin's log is unambiguous. */
  key: string;
  scenario: Scenario;
  path: string;
  /** `Bearer sk_soak_<index % 3>`: the key's scope, pinned for its life. */
  authorization: string;
  /** `{"amount":<n>}` with a key-specific amount. */
  body: string;
}

/** One unit of work: one request, or a burst of `count` simultaneous duplicates. */
export interface Job {
  key: number;
  count: number;
}

/** The whole workload. */
export interface Plan {
  keys: KeySpec[];
  jobs: Job[];
  /** Total requests the jobs send (more than the jobs, because of bursts). */
  requests: number;
  bursts: number;
  hotKeys: number;
}

/** mulberry32: small, fast, good enough for a workload; the same seed gives the same run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates, in place. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

function pickScenario(random: () => number): Scenario {
  let r = random();
  for (const [scenario, { share }] of Object.entries(SCENARIOS)) {
    if (r < share) return scenario as Scenario;
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
  const keys = Array.from({ length: keyCount }, (_, index): KeySpec => {
    const scenario = pickScenario(random);
    return {
      index,
      key: `soak-${runId}-${index}`,
      scenario,
      path: SCENARIOS[scenario].path,
      authorization: `Bearer sk_soak_${index % 3}`,
      body: JSON.stringify({ amount: 100 + ((index * 7919 + seed) % 99_900) }),
    };
  });
  const allIndexes = () => keys.map((k) => k.index);

  const hotKeys = Math.max(1, Math.floor(keyCount / 10));
  const hot = shuffle(allIndexes(), random).slice(0, hotKeys);
  const bursts = Math.min(Math.floor(requests / 1000), Math.floor(keyCount / 10));
  const burstSizes = Array.from({ length: bursts }, () => 10 + Math.floor(random() * 41));
  const burstRequests = burstSizes.reduce((a, b) => a + b, 0);

  // Each key once, then the duplicates; a burst replaces its key's first single request.
  const picks = allIndexes();
  const extra = Math.max(0, requests - keyCount - (burstRequests - bursts));
  for (let i = 0; i < extra; i++) {
    const fromHot = random() < 0.5;
    picks.push(
      fromHot
        ? (hot[Math.floor(random() * hot.length)] as number)
        : Math.floor(random() * keyCount),
    );
  }
  shuffle(picks, random);

  // Burst keys: drawn from all keys, so a mix of scenarios (each key distinct).
  const candidates = shuffle(allIndexes(), random);
  const burstOf = new Map(burstSizes.map((size, i) => [candidates[i] as number, size]));
  const seen = new Set<number>();
  const jobs = picks.map((key): Job => {
    const burst = seen.has(key) ? undefined : burstOf.get(key);
    seen.add(key);
    return { key, count: burst ?? 1 };
  });
  const total = jobs.reduce((sum, job) => sum + job.count, 0);
  return { keys, jobs, requests: total, bursts, hotKeys };
}
