import { createHash } from "node:crypto";
import type { ApiCase } from "./cases.ts";
import { FUZZ_ROUTES } from "./config.ts";
import {
  SHORT_WAIT_MS,
  describeAnswer,
  nextNonce,
  send,
  type FuzzContext,
  type Sent,
} from "./context.ts";
import {
  checkProblem,
  decodedBody,
  field,
  isOriginParserAnswer,
  mediaType,
  replayDifference,
  runtimeAnswer,
} from "./invariants.ts";
import type { RawAnswer } from "./raw-http.ts";
import { buildApiRequest, otherScope, type BuiltRequest } from "./requests.ts";

/**
 * API requests and the invariants their answers keep (docs/development.md, "Fuzzing"):
 * - every request gets an answer in time, and none is a 5xx of the gateway's own: the origin is
 *   healthy, so a `502` or `504` of the gateway is right only where the origin refused bytes the
 *   gateway forwarded (a control byte workerd let through);
 * - every gateway error is problem+json with a documented code, at its documented status, and
 *   fits the request (`checkRefusal`);
 * - what the gateway does not answer itself comes from the origin, which saw the request exactly
 *   once, or from the runtime, only for bytes that are not HTTP (`RUNTIME_ANSWERS`);
 * - an answer the gateway stored, resent with its key and scope, is a byte-identical replay
 *   (`Idempotent-Replayed: true`) that the origin never sees; a JSON body re-serialized is one
 *   under the `json` fingerprint and a `422` under `bytes`;
 * - the same request under another scope is forwarded; an uncovered one always is;
 * - a request refused before the origin leaves its valid key unused: a clean request with it is
 *   forwarded.
 */

/** Codes an API request may never get from this gateway: its origin is healthy and fresh keys meet no record. */
const NEVER_ON_A_FIRST_REQUEST = new Set([
  "internal-error",
  "invalid-configuration",
  "origin-unreachable",
  "origin-outcome-unknown",
  "gateway-busy",
  "request-in-progress",
  "idempotency-key-reused",
]);

/**
 * Checks a first request's answer and returns what it was: forwarded (the origin saw it), a
 * gateway problem (its code), a runtime answer, or a violation.
 */
function checkFirst(
  ctx: FuzzContext,
  c: ApiCase,
  built: BuiltRequest,
  sent: Sent,
  violations: string[],
): { kind: "forwarded" | "refused" | "runtime" | "origin-refused" | "bad"; code?: string | null } {
  const { answer } = sent;
  if (answer === null) {
    if (built.mayNotAnswer) {
      ctx.tally?.("no answer from wrangler dev (GET or HEAD body cut short)");
      return { kind: "runtime" };
    }
    // The runtime refused the head while the body was still on its way: the reset may take
    // the answer with it (RFC 9112 §9.6).
    if (built.broken && sent.reset === true) {
      ctx.tally?.("connection reset by the runtime while sending");
      return { kind: "runtime" };
    }
    violations.push(`first request: ${sent.missing ?? "no answer"}`);
    return { kind: "bad" };
  }
  if (sent.seen > 1) violations.push(`first request: the origin saw it ${sent.seen} times`);
  if (field(answer, "idempotent-replayed") !== undefined) {
    violations.push(
      `first request with a fresh key answered as a replay: ${describeAnswer(answer)}`,
    );
  }
  // Forwarded, and then the runtime gave up on the request's body: its answer replaces the origin's.
  if (sent.seen >= 1 && built.mayNotAnswer && runtimeAnswer(answer, built.method) !== null) {
    ctx.tally?.(`runtime answer ${answer.status}, after forwarding`);
    return { kind: "runtime" };
  }
  if (sent.seen >= 1) {
    if (mediaType(answer) === "application/problem+json") {
      violations.push(`forwarded, yet answered with a gateway problem: ${describeAnswer(answer)}`);
      return { kind: "bad" };
    }
    checkOriginAnswer(c, built, answer, violations);
    ctx.tally?.(built.keyed ? "forwarded with a key" : "passed through");
    return { kind: "forwarded" };
  }
  // Checked first: the answer to a HEAD has no body to tell the origin's 400 from the runtime's.
  if (built.originMayRefuse && isOriginRefusal(answer, ctx.problems)) {
    ctx.tally?.("the origin refused a control byte the gateway forwarded");
    return { kind: "origin-refused" };
  }
  const runtime = runtimeAnswer(answer, built.method);
  if (runtime !== null) {
    if (!built.broken)
      violations.push(
        `a well-formed request got the runtime's answer (${runtime}): ${describeAnswer(answer)}`,
      );
    ctx.tally?.(`runtime answer ${answer.status}`);
    return { kind: "runtime" };
  }

  const problem = checkProblem(answer, built.method, ctx.problems);
  if (!problem.ok) {
    violations.push(
      `first request not forwarded, and not a valid problem (${problem.why}): ${describeAnswer(answer)}`,
    );
    return { kind: "bad" };
  }
  const code = problem.code;
  if (code !== null && NEVER_ON_A_FIRST_REQUEST.has(code)) {
    violations.push(`first request answered ${code}: ${describeAnswer(answer)}`);
  }
  if (!built.broken && code !== null) checkRefusal(c, built, code, violations);
  ctx.tally?.(`refused ${code ?? `${answer.status} (HEAD)`}`);
  return { kind: "refused", code };
}

/**
 * The ways the origin's refusal of forwarded bytes reaches the client: its bare `400` passed on,
 * or, when it hung up while the request was still being sent, `504 origin-outcome-unknown` for a
 * covered request (fail closed: its key ends unknown) or `502 origin-unreachable` for one passed
 * through.
 */
function isOriginRefusal(answer: RawAnswer, problems: Map<string, number>): boolean {
  if (isOriginParserAnswer(answer)) return true;
  if (answer.status !== 502 && answer.status !== 504) return false;
  const problem = checkProblem(answer, "POST", problems);
  return (
    problem.ok &&
    (problem.code === "origin-unreachable" || problem.code === "origin-outcome-unknown")
  );
}

/** Whether a refusal fits the request: the README says which refusals each request can get. */
function checkRefusal(c: ApiCase, built: BuiltRequest, code: string, violations: string[]): void {
  const route = FUZZ_ROUTES[c.route];
  const body = new Set(["request-too-large", "malformed-body"]);
  let allowed: Set<string>;
  if (!built.covered) allowed = new Set();
  else if (!built.keyed) {
    allowed = route.keyRequired ? new Set(["missing-idempotency-key", ...body]) : body;
    // A key in a header is read before the body: without one on an optional route, nothing is read.
    if (!route.keyRequired && route.key.kind === "header") allowed = new Set();
  } else if (!built.keyValid) {
    allowed = new Set([
      "invalid-idempotency-key",
      "missing-idempotency-key",
      "missing-scope",
      ...body,
    ]);
  } else if (!built.scopeValid) allowed = new Set(["missing-scope", ...body]);
  else allowed = body;
  if (!allowed.has(code)) {
    const what = !built.covered
      ? "an uncovered request (it must be proxied)"
      : `covered=${built.covered} keyed=${built.keyed} keyValid=${built.keyValid} scopeValid=${built.scopeValid}`;
    violations.push(`refused with ${code}, which does not fit ${what}`);
  }
}

/** The origin's answer, passed on unchanged: its status, and the body it received, as sent. */
function checkOriginAnswer(
  c: ApiCase,
  built: BuiltRequest,
  answer: RawAnswer,
  violations: string[],
): void {
  if (c.route === "status") {
    const asked = Number(c.tail.slice(0, 3));
    if (answer.status !== asked)
      violations.push(`the origin answered ${asked}, the client got ${answer.status}`);
    return;
  }
  if (answer.status !== 201) {
    violations.push(`the origin answers 201 here, the client got ${describeAnswer(answer)}`);
    return;
  }
  if (built.method === "HEAD" || built.broken) return;
  let charge: { method?: unknown; bodySha256?: unknown };
  try {
    charge = JSON.parse(Buffer.from(decodedBody(answer)).toString("utf8")) as typeof charge;
  } catch {
    violations.push(
      `the origin's answer did not reach the client intact: ${describeAnswer(answer)}`,
    );
    return;
  }
  const sha = createHash("sha256").update(built.content).digest("hex");
  if (charge.bodySha256 !== sha) {
    violations.push(
      `the origin received a body other than the one sent (${built.content.length} bytes)`,
    );
  }
  if (charge.method !== built.method)
    violations.push(`the origin received ${String(charge.method)}, not ${built.method}`);
}

/** Statuses that release the key (IDEMPOTENCY_RETRY_STATUSES, default). */
const RELEASED = new Set([429, 503]);

/** Runs one API case and its follow-ups; returns its violations. */
export async function runApiCase(ctx: FuzzContext, c: ApiCase): Promise<string[]> {
  const violations: string[] = [];
  const nonce = nextNonce();
  let n = 0;
  const marker = () => `${nonce}m${++n}`;
  const request = (variation = {}) => {
    const m = marker();
    const built = buildApiRequest(c, nonce, m, ctx.port, variation);
    const wait = built.mayNotAnswer ? SHORT_WAIT_MS : ctx.timeoutMs;
    return { m, built, go: () => send(ctx, built.bytes, built.method, m, wait) };
  };

  const first = request();
  const firstSent = await first.go();
  const outcome = checkFirst(ctx, c, first.built, firstSent, violations);
  const answer = firstSent.answer;
  const { built } = first;
  // The origin answered bytes it could not parse: the gateway may have stored that answer.
  if (outcome.kind === "bad" || outcome.kind === "origin-refused") return violations;

  if (answer !== null && outcome.kind === "forwarded" && !built.keyed) {
    // Never stored: the same request goes to the origin again.
    const again = await request().go();
    if (
      again.seen !== 1 ||
      (again.answer !== null && field(again.answer, "idempotent-replayed") !== undefined)
    ) {
      violations.push(
        `an uncovered request, resent, was not forwarded again (seen ${again.seen}): ${again.answer ? describeAnswer(again.answer) : again.missing}`,
      );
    }
    return violations;
  }

  if (answer !== null && outcome.kind === "forwarded" && built.keyed) {
    const released = c.route === "status" && RELEASED.has(answer.status);
    const resend = await request().go();
    if (resend.answer === null) violations.push(`resend: ${resend.missing ?? "no answer"}`);
    else if (released) {
      if (resend.seen !== 1)
        violations.push(
          `resend of a released ${answer.status}: the origin saw it ${resend.seen} times, not once`,
        );
    } else {
      if (resend.seen !== 0)
        violations.push(`resend with the same key and scope reached the origin (${resend.seen})`);
      if (field(resend.answer, "idempotent-replayed") !== "true") {
        violations.push(
          `resend is not marked Idempotent-Replayed: true: ${describeAnswer(resend.answer)}`,
        );
      }
      const difference = replayDifference(answer, resend.answer);
      if (difference !== null)
        violations.push(`resend is not a byte-identical replay: ${difference}`);
      ctx.tally?.(`resend replayed (${Math.floor(answer.status / 100)}xx)`);
    }
    const other = otherScope(c.scope);
    if (other !== null && !released) {
      const sent = await request({ scope: other }).go();
      if (sent.seen !== 1)
        violations.push(
          `the same request under another scope was not forwarded (seen ${sent.seen}): ${sent.answer ? describeAnswer(sent.answer) : sent.missing}`,
        );
      if (sent.answer !== null && field(sent.answer, "idempotent-replayed") !== undefined) {
        violations.push(`the same request under another scope was answered with a replay`);
      }
      ctx.tally?.("same request, other scope");
    }
    if (c.body.kind === "json" && !released)
      await checkReserialized(ctx, c, built, request, violations);
    return violations;
  }

  // Refused before the origin: a valid key must still be free.
  if (built.keyed && built.keyValid && built.scopeValid) {
    const clean = await request({
      framing: "length",
      oddity: "none",
      body:
        built.method === "GET" || built.method === "HEAD"
          ? { kind: "empty" }
          : { kind: "json", value: { fuzz: "clean" }, pretty: false },
      contentType: "application/json",
    }).go();
    if (clean.seen !== 1) {
      violations.push(
        `after a refusal (${outcome.code ?? outcome.kind}), a clean request with the same key was not forwarded (seen ${clean.seen}): ${clean.answer ? describeAnswer(clean.answer) : clean.missing}`,
      );
    }
    ctx.tally?.("refused, then the key still worked");
  }
  return violations;
}

/** A JSON body re-serialized: a replay under the `json` fingerprint, `422` under `bytes`. */
async function checkReserialized(
  ctx: FuzzContext,
  c: ApiCase,
  built: BuiltRequest,
  request: (variation?: object) => { built: BuiltRequest; go: () => Promise<Sent> },
  violations: string[],
): Promise<void> {
  // A broken framing may not deliver the content as the body at all.
  if (built.broken) return;
  const variant = request({ reserialize: true });
  if (Buffer.from(variant.built.content).equals(Buffer.from(built.content))) return;
  const sent = await variant.go();
  if (sent.answer === null) {
    violations.push(`re-serialized resend: ${sent.missing ?? "no answer"}`);
    return;
  }
  if (sent.seen !== 0) violations.push(`a re-serialized resend reached the origin`);
  if (variant.built.content.length > FUZZ_ROUTES[c.route].maxBodyBytes) {
    // Spaced out past the route's limit: refused before it is compared.
    if (sent.answer.status !== 413)
      violations.push(
        `a re-serialized body over the limit was not 413: ${describeAnswer(sent.answer)}`,
      );
    return;
  }
  const byMeaning = FUZZ_ROUTES[c.route].fingerprint === "json" && built.jsonContent;
  if (byMeaning && field(sent.answer, "idempotent-replayed") !== "true") {
    violations.push(
      `a re-serialized JSON body under the json fingerprint was not replayed: ${describeAnswer(sent.answer)}`,
    );
  }
  if (!byMeaning && sent.answer.status !== 422) {
    violations.push(
      `a re-serialized body compared by bytes was not 422: ${describeAnswer(sent.answer)}`,
    );
  }
  ctx.tally?.(
    byMeaning ? "re-serialized JSON replayed (json)" : "re-serialized body refused 422 (bytes)",
  );
}
