import type { SeenRequest } from "../../harness/test-origin.ts";
import type { Answer } from "./client.ts";
import { SCENARIOS, type KeySpec, type Scenario } from "./plan.ts";

/**
 * The per-key checks of the soak, against the outcome table of the README ("Outcomes"):
 *
 * - a *forward* is an answer not marked `Idempotent-Replayed` that came from the origin's side
 *   (origin status, or `504 origin-outcome-unknown`); a forward answered with a retry status
 *   (503) releases the key, any other forward stores it;
 * - at most one storing forward per key, and none after it: the origin saw at most one request
 *   for a key unless the contract released it, and never more requests than forwards;
 * - every replay equals a forward's answer (status and body bytes; status and `code` for
 *   problem+json), and every replay started after the stored answer reached a client equals it;
 * - `409 request-in-progress` only while the key is unfinished; no 422, no other gateway error,
 *   no 5xx outside the scenarios, no network error at the client;
 * - the re-send after all traffic is a replay of the stored answer without an origin call, or, for
 *   a released key, one new forward.
 */

/** One broken rule, for one key or for the whole run. */
export interface Violation {
  key?: string;
  scenario?: Scenario;
  kind: string;
  detail: string;
}

/** Counts per scenario, for the report. */
export interface ScenarioStats {
  keys: number;
  /** Keys that got at least one request. */
  exercised: number;
  requests: number;
  /** Origin calls during the main traffic and during the final re-send. */
  originCalls: number;
  finalOriginCalls: number;
  /** Keys the origin saw more than once (legitimate only for released keys). */
  keysSeenTwiceOrMore: number;
  /** Forwards answered 504 origin-outcome-unknown although the scenario's origin answers. */
  timeouts: number;
}

/** Counts over all keys, for the report. */
export interface Stats {
  answers: number;
  statusCounts: Record<string, number>;
  finalStatusCounts: Record<string, number>;
  replayed: number;
  forwards: number;
  inProgress: number;
  networkErrors: number;
  perScenario: Record<Scenario, ScenarioStats>;
  finalChecked: number;
}

/** What the soak observed. */
export interface VerifyInput {
  keys: KeySpec[];
  /** Answers per key index (main traffic). */
  main: Answer[][];
  /** The re-send per key index, when one was made. */
  final: (Answer | undefined)[];
  /** Origin requests per key index before the re-sends, and after. */
  originBefore: SeenRequest[][];
  originAfter: SeenRequest[][];
  /** Largest acceptable share of 409 answers among all answers. */
  maxInProgressRate: number;
}

/** Statuses that tell the client to retry: the contract releases the key (README, "Outcomes"). */
const RETRY_STATUSES = new Set<number>([429, 503]);

const isInProgress = (a: Answer) => a.status === 409 && a.code === "request-in-progress";
const isOutcomeUnknown = (a: Answer) => a.status === 504 && a.code === "origin-outcome-unknown";

/** Whether two answers are "the same answer" in the contract's sense. */
function sameAnswer(a: Answer, b: Answer): boolean {
  if (a.status !== b.status) return false;
  if (a.code !== undefined || b.code !== undefined) return a.code === b.code;
  return a.bodyHash === b.bodyHash && a.charge === b.charge;
}

function describe(a: Answer | undefined): string {
  if (a === undefined) return "(none)";
  if (a.error !== undefined) return `network error "${a.error}"`;
  const head = a.bodyHead.length > 100 ? `${a.bodyHead.slice(0, 100)}…` : a.bodyHead;
  return `${a.status}${a.replayed ? " replayed" : ""}${a.code ? ` ${a.code}` : ""} body=${head}`;
}

const describeAll = (answers: readonly Answer[]) => answers.map(describe).join(" | ") || "none";

function increment(counts: Record<string, number>, name: string): void {
  counts[name] = (counts[name] ?? 0) + 1;
}

const ZERO: ScenarioStats = {
  keys: 0,
  exercised: 0,
  requests: 0,
  originCalls: 0,
  finalOriginCalls: 0,
  keysSeenTwiceOrMore: 0,
  timeouts: 0,
};

/** Checks every key; returns the violations and the counts. */
export function verify(input: VerifyInput): { violations: Violation[]; stats: Stats } {
  const violations: Violation[] = [];
  const stats: Stats = {
    answers: 0,
    statusCounts: {},
    finalStatusCounts: {},
    replayed: 0,
    forwards: 0,
    inProgress: 0,
    networkErrors: 0,
    perScenario: Object.fromEntries(
      Object.keys(SCENARIOS).map((scenario) => [scenario, { ...ZERO }]),
    ) as Record<Scenario, ScenarioStats>,
    finalChecked: 0,
  };
  for (const spec of input.keys) {
    const { index, key, scenario } = spec;
    checkKey(
      {
        spec,
        answers: [...(input.main[index] ?? [])].sort((a, b) => a.startedAt - b.startedAt),
        seenBefore: input.originBefore[index] ?? [],
        seenAfter: input.originAfter[index] ?? [],
        last: input.final[index],
        add: (kind, detail) => violations.push({ key, scenario, kind, detail }),
      },
      stats,
    );
  }
  const rate = stats.answers === 0 ? 0 : stats.inProgress / stats.answers;
  if (rate > input.maxInProgressRate) {
    violations.push({
      kind: "too-many-in-progress",
      detail: `${stats.inProgress} of ${stats.answers} answers (${(rate * 100).toFixed(2)}%) were 409 request-in-progress; at most ${(input.maxInProgressRate * 100).toFixed(2)}% allowed`,
    });
  }
  return { violations, stats };
}

/** What was observed for one key, and where its violations go. */
interface KeyRecord {
  spec: KeySpec;
  /** The main traffic's answers, in the order the requests started. */
  answers: Answer[];
  /** What the origin saw for the key before the final re-send, and after it. */
  seenBefore: SeenRequest[];
  seenAfter: SeenRequest[];
  /** The final re-send's answer. */
  last: Answer | undefined;
  add(kind: string, detail: string): void;
}

/** The checks of one key, counted into `stats`. */
function checkKey(k: KeyRecord, stats: Stats): void {
  const s = stats.perScenario[k.spec.scenario];
  s.keys++;
  s.requests += k.answers.length;
  s.originCalls += k.seenBefore.length;
  s.finalOriginCalls += k.seenAfter.length - k.seenBefore.length;
  s.keysSeenTwiceOrMore += k.seenAfter.length > 1 ? 1 : 0;
  if (k.answers.length > 0) s.exercised++;

  checkOriginSaw(k);
  const { forwards, clientErrors } = sortAnswers(k, stats);
  // Forwards: releasing ones (retry status) may repeat; a storing one ends the key.
  const storing = forwards.filter((f) => !(RETRY_STATUSES.has(f.status) && f.code === undefined));
  const stored = storing[0];
  if (storing.length > 1) {
    k.add(
      "second-forward-after-stored",
      `${storing.length} non-replayed stored answers: ${describeAll(storing)}`,
    );
  }
  for (const f of forwards) {
    if (stored !== undefined && f !== stored && f.startedAt > stored.endedAt) {
      k.add(
        "forwarded-after-stored",
        `a request started ${(f.startedAt - stored.endedAt).toFixed(0)} ms after the stored answer (${describe(stored)}) was delivered got a fresh answer: ${describe(f)}`,
      );
    }
  }
  checkOriginCalls(k, forwards, clientErrors);
  checkReplays(k, forwards, stored, clientErrors);
  checkFinal(k, stats, forwards, stored);
}

/** What the origin saw must be exactly what the client sent (scope, path, body, key). */
function checkOriginSaw({ spec, seenAfter, add }: KeyRecord): void {
  for (const seen of seenAfter) {
    const body = Buffer.from(seen.bodyBase64, "base64").toString("utf8");
    const auth = seen.headers.authorization;
    if (
      seen.method !== "POST" ||
      seen.path !== spec.path ||
      auth !== spec.authorization ||
      seen.headers["idempotency-key"] !== spec.key ||
      body !== spec.body
    ) {
      add(
        "origin-saw-other-request",
        `origin saw ${seen.method} ${seen.path} auth=${String(auth)} body=${body}; the client sent POST ${spec.path} auth=${spec.authorization} body=${spec.body}`,
      );
    }
  }
}

/**
 * Counts the answers and sorts out the *forwards* (fresh answers from the origin's side);
 * network errors and statuses outside the key's scenario are violations.
 */
function sortAnswers(k: KeyRecord, stats: Stats): { forwards: Answer[]; clientErrors: number } {
  const expected: number | undefined = SCENARIOS[k.spec.scenario].originStatus;
  const forwards: Answer[] = [];
  let clientErrors = 0;
  for (const a of k.answers) {
    stats.answers++;
    increment(stats.statusCounts, a.error !== undefined ? "network error" : String(a.status));
    if (a.error !== undefined) {
      stats.networkErrors++;
      clientErrors++;
      k.add("client-network-error", describe(a));
    } else if (isInProgress(a)) {
      stats.inProgress++;
    } else if (isOutcomeUnknown(a) || (a.status === expected && a.code === undefined)) {
      if (a.replayed) stats.replayed++;
      else forwards.push(a);
      if (isOutcomeUnknown(a) && !a.replayed && expected !== undefined) {
        stats.perScenario[k.spec.scenario].timeouts++;
      }
    } else {
      if (a.replayed) stats.replayed++;
      const kind =
        a.status === 422
          ? "key-reused-422"
          : a.status >= 500
            ? "unexpected-5xx"
            : "unexpected-status";
      const wanted = expected ?? "504 origin-outcome-unknown";
      k.add(kind, `scenario ${k.spec.scenario} expects ${wanted}; client got ${describe(a)}`);
    }
  }
  stats.forwards += forwards.length;
  return { forwards, clientErrors };
}

/**
 * The origin saw a key at most once unless the contract released it, never more often than
 * clients got fresh answers, and every fresh answer from the origin itself (not a 504) needs an
 * origin call behind it.
 */
function checkOriginCalls(
  { spec, answers, seenBefore, add }: KeyRecord,
  forwards: Answer[],
  clientErrors: number,
): void {
  const expected: number | undefined = SCENARIOS[spec.scenario].originStatus;
  const releases = expected !== undefined && RETRY_STATUSES.has(expected);
  const originAnswers = forwards.filter((f) => !isOutcomeUnknown(f)).length;
  if (!releases && seenBefore.length > 1) {
    add(
      "double-forward",
      `origin saw ${seenBefore.length} requests for a key the contract never releases; clients got: ${describeAll(answers)}`,
    );
  } else if (seenBefore.length > forwards.length && clientErrors === 0) {
    add(
      "origin-saw-more-than-forwards",
      `origin saw ${seenBefore.length} requests, clients got ${forwards.length} fresh answers: ${describeAll(answers)}`,
    );
  }
  if (seenBefore.length < originAnswers) {
    add(
      "answer-without-origin-call",
      `clients got ${originAnswers} fresh origin answers, the origin saw ${seenBefore.length} requests`,
    );
  }
}

/**
 * Replays equal a forward's answer, and once the stored answer was delivered, that one; a 409
 * comes only while the key is unfinished.
 */
function checkReplays(
  { answers, add }: KeyRecord,
  forwards: Answer[],
  stored: Answer | undefined,
  clientErrors: number,
): void {
  for (const a of answers) {
    if (a.error !== undefined) continue;
    const afterStored = stored !== undefined && a.startedAt > stored.endedAt;
    if (isInProgress(a)) {
      if (afterStored) {
        add(
          "in-progress-after-finished",
          `409 for a request started ${(a.startedAt - stored.endedAt).toFixed(0)} ms after the stored answer was delivered (${describe(stored)})`,
        );
      }
    } else if (!a.replayed) {
      continue;
    } else if (afterStored) {
      if (!sameAnswer(a, stored))
        add("replay-differs", `stored ${describe(stored)}; replayed ${describe(a)}`);
    } else if (!forwards.some((f) => sameAnswer(f, a)) && clientErrors === 0) {
      add(
        "replay-of-unseen-answer",
        `replayed ${describe(a)}, but no client got that answer fresh (fresh: ${describeAll(forwards)})`,
      );
    }
  }
}

/** The re-send after all traffic: a replay of the stored answer, or a released key's forward. */
function checkFinal(
  k: KeyRecord,
  stats: Stats,
  forwards: Answer[],
  stored: Answer | undefined,
): void {
  const { last, add } = k;
  if (last === undefined) return;
  const newCalls = k.seenAfter.length - k.seenBefore.length;
  stats.finalChecked++;
  increment(
    stats.finalStatusCounts,
    last.error !== undefined ? "network error" : String(last.status),
  );
  if (last.error !== undefined) {
    stats.networkErrors++;
    add("client-network-error", `final re-send: ${describe(last)}`);
  } else if (stored !== undefined) {
    if (!last.replayed || !sameAnswer(last, stored)) {
      add("final-not-replay", `stored ${describe(stored)}; final re-send got ${describe(last)}`);
    }
    if (newCalls !== 0) {
      add("final-forwarded", `final re-send of a stored key reached the origin ${newCalls}×`);
    }
  } else if (forwards.length > 0) {
    // Only released forwards so far: the re-send is forwarded once more.
    const expected = SCENARIOS[k.spec.scenario].originStatus;
    const fresh = (last.status === expected && last.code === undefined) || isOutcomeUnknown(last);
    if (last.replayed || !fresh)
      add("final-unexpected", `released key; final re-send got ${describe(last)}`);
    if (newCalls > 1 || (newCalls === 0 && !isOutcomeUnknown(last))) {
      add("final-origin-count", `released key; final re-send reached the origin ${newCalls}×`);
    }
  }
}
