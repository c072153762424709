import { Buffer } from "node:buffer";
import type { SeenRequest } from "../../harness/test-origin.ts";
import type { Answer } from "./client.ts";
import { SCENARIOS, releases, type KeySpec, type Scenario } from "./plan.ts";

/**
 * The per-key checks of the soak, against CONTRACT.md's outcome table:
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

export interface Violation {
  key?: string;
  scenario?: Scenario;
  kind: string;
  detail: string;
}

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

const RETRY_STATUSES = new Set([429, 503]);
const OUTCOME_UNKNOWN = "origin-outcome-unknown";
const IN_PROGRESS = "request-in-progress";

/** The status the origin gives each scenario (undefined: it never answers, so 504). */
const ORIGIN_STATUS: Readonly<Record<Scenario, number | undefined>> = {
  normal: 201,
  status503: 503,
  status500: 500,
  reset: undefined,
  truncate: undefined,
  hang: undefined,
};

function isInProgress(a: Answer): boolean {
  return a.status === 409 && a.code === IN_PROGRESS;
}

function isOutcomeUnknown(a: Answer): boolean {
  return a.status === 504 && a.code === OUTCOME_UNKNOWN;
}

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

function increment(counts: Record<string, number>, name: string): void {
  counts[name] = (counts[name] ?? 0) + 1;
}

/** Checks every key; returns the violations and the counts. */
export function verify(input: VerifyInput): { violations: Violation[]; stats: Stats } {
  const { keys, main, final, originBefore, originAfter } = input;
  const violations: Violation[] = [];
  const perScenario = Object.fromEntries(
    SCENARIOS.map((s) => [
      s,
      {
        keys: 0,
        exercised: 0,
        requests: 0,
        originCalls: 0,
        finalOriginCalls: 0,
        keysSeenTwiceOrMore: 0,
        timeouts: 0,
      },
    ]),
  ) as Record<Scenario, ScenarioStats>;
  const stats: Stats = {
    answers: 0,
    statusCounts: {},
    finalStatusCounts: {},
    replayed: 0,
    forwards: 0,
    inProgress: 0,
    networkErrors: 0,
    perScenario,
    finalChecked: 0,
  };

  for (const spec of keys) {
    const { scenario } = spec;
    const add = (kind: string, detail: string) =>
      violations.push({ key: spec.key, scenario, kind, detail });
    const answers = [...(main[spec.index] ?? [])].sort((a, b) => a.startedAt - b.startedAt);
    const seenBefore = originBefore[spec.index] ?? [];
    const seenAfter = originAfter[spec.index] ?? [];
    const s = perScenario[scenario];
    s.keys++;
    s.requests += answers.length;
    s.originCalls += seenBefore.length;
    s.finalOriginCalls += seenAfter.length - seenBefore.length;
    if (seenAfter.length > 1) s.keysSeenTwiceOrMore++;
    if (answers.length > 0) s.exercised++;

    // What the origin saw must be exactly what the client sent (scope, path, body, key).
    for (const seen of seenAfter) {
      const body = Buffer.from(seen.bodyBase64, "base64").toString("utf8");
      if (
        seen.method !== "POST" ||
        seen.path !== spec.path ||
        seen.headers.authorization !== spec.authorization ||
        seen.headers["idempotency-key"] !== spec.key ||
        body !== spec.body
      ) {
        add(
          "origin-saw-other-request",
          `origin saw ${seen.method} ${seen.path} auth=${String(seen.headers.authorization)} body=${body}; the client sent POST ${spec.path} auth=${spec.authorization} body=${spec.body}`,
        );
      }
    }

    const forwards: Answer[] = [];
    let clientErrors = 0;
    for (const a of answers) {
      stats.answers++;
      if (a.error !== undefined) {
        stats.networkErrors++;
        clientErrors++;
        increment(stats.statusCounts, "network error");
        add("client-network-error", describe(a));
        continue;
      }
      increment(stats.statusCounts, String(a.status));
      if (isInProgress(a)) {
        stats.inProgress++;
        continue;
      }
      if (a.replayed) stats.replayed++;
      const expected = ORIGIN_STATUS[scenario];
      const fromOrigin = a.status === expected && a.code === undefined;
      if (isOutcomeUnknown(a)) {
        if (!a.replayed && expected !== undefined) s.timeouts++;
      } else if (!fromOrigin) {
        const kind =
          a.status === 422
            ? "key-reused-422"
            : a.status >= 500
              ? "unexpected-5xx"
              : "unexpected-status";
        add(
          kind,
          `scenario ${scenario} expects ${expected ?? `504 ${OUTCOME_UNKNOWN}`}; client got ${describe(a)}`,
        );
        continue;
      }
      if (!a.replayed) forwards.push(a);
    }
    stats.forwards += forwards.length;

    // Forwards: releasing ones (retry status) may repeat; a storing one ends the key.
    const storing = forwards.filter((f) => !(RETRY_STATUSES.has(f.status) && f.code === undefined));
    const stored = storing[0];
    if (storing.length > 1) {
      add(
        "second-forward-after-stored",
        `${storing.length} non-replayed stored answers: ${storing.map(describe).join(" | ")}`,
      );
    }
    if (stored !== undefined) {
      for (const f of forwards) {
        if (f !== stored && f.startedAt > stored.endedAt) {
          add(
            "forwarded-after-stored",
            `a request started ${(f.startedAt - stored.endedAt).toFixed(0)} ms after the stored answer (${describe(stored)}) was delivered got a fresh answer: ${describe(f)}`,
          );
        }
      }
    }

    // The origin: at most once unless released; never more than the forwards; and every answer
    // that came from the origin itself (not a 504) needs an origin call behind it.
    const originAnswers = forwards.filter((f) => !isOutcomeUnknown(f)).length;
    if (!releases(scenario) && seenBefore.length > 1) {
      add(
        "double-forward",
        `origin saw ${seenBefore.length} requests for a key the contract never releases; clients got: ${answers.map(describe).join(" | ")}`,
      );
    } else if (seenBefore.length > forwards.length && clientErrors === 0) {
      add(
        "origin-saw-more-than-forwards",
        `origin saw ${seenBefore.length} requests, clients got ${forwards.length} fresh answers: ${answers.map(describe).join(" | ")}`,
      );
    }
    if (seenBefore.length < originAnswers) {
      add(
        "answer-without-origin-call",
        `clients got ${originAnswers} fresh origin answers, the origin saw ${seenBefore.length} requests`,
      );
    }

    // Replays equal a forward's answer; after the stored answer was delivered, equal that one.
    for (const a of answers) {
      if (!a.replayed || a.error !== undefined || isInProgress(a)) continue;
      if (stored !== undefined && a.startedAt > stored.endedAt) {
        if (!sameAnswer(a, stored)) {
          add("replay-differs", `stored ${describe(stored)}; replayed ${describe(a)}`);
        }
      } else if (!forwards.some((f) => sameAnswer(f, a)) && clientErrors === 0) {
        add(
          "replay-of-unseen-answer",
          `replayed ${describe(a)}, but no client got that answer fresh (fresh: ${forwards.map(describe).join(" | ") || "none"})`,
        );
      }
    }

    // 409 only while unfinished.
    if (stored !== undefined) {
      for (const a of answers) {
        if (isInProgress(a) && a.startedAt > stored.endedAt) {
          add(
            "in-progress-after-finished",
            `409 for a request started ${(a.startedAt - stored.endedAt).toFixed(0)} ms after the stored answer was delivered (${describe(stored)})`,
          );
        }
      }
    }

    // The re-send after all traffic.
    const last = final[spec.index];
    if (last === undefined) continue;
    stats.finalChecked++;
    increment(
      stats.finalStatusCounts,
      last.error !== undefined ? "network error" : String(last.status),
    );
    if (last.error !== undefined) {
      stats.networkErrors++;
      add("client-network-error", `final re-send: ${describe(last)}`);
      continue;
    }
    const newCalls = seenAfter.length - seenBefore.length;
    if (stored !== undefined) {
      if (!last.replayed || !sameAnswer(last, stored)) {
        add("final-not-replay", `stored ${describe(stored)}; final re-send got ${describe(last)}`);
      }
      if (newCalls !== 0) {
        add("final-forwarded", `final re-send of a stored key reached the origin ${newCalls}×`);
      }
    } else if (forwards.length > 0) {
      // Only released forwards so far: the re-send is forwarded once more.
      const ok =
        !last.replayed &&
        ((last.status === ORIGIN_STATUS[scenario] && last.code === undefined) ||
          isOutcomeUnknown(last));
      if (!ok) add("final-unexpected", `released key; final re-send got ${describe(last)}`);
      if (newCalls > 1 || (newCalls === 0 && !isOutcomeUnknown(last))) {
        add("final-origin-count", `released key; final re-send reached the origin ${newCalls}×`);
      }
    }
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
