import type { AdminCase } from "./cases.ts";
import { FUZZ_ADMIN_TOKEN } from "./config.ts";
import { describeAnswer, nextNonce, send, type FuzzContext, type Sent } from "./context.ts";
import { checkProblem, decodedBody, field, mediaType } from "./invariants.ts";
import { serialize, type RawAnswer } from "./raw-http.ts";
import { scopeFields } from "./requests.ts";

/**
 * Admin calls (docs/operations.md, "Operating it"): any answer is a 2xx document or a problem with a
 * documented code, a key endpoint without the token is `401`, nothing under the prefix reaches
 * the origin, and a resolved answer is what the client's retry gets, without a new origin call.
 */

function adminAuthorization(c: AdminCase): [string, string][] {
  switch (c.token) {
    case "valid":
      return [["Authorization", `Bearer ${FUZZ_ADMIN_TOKEN}`]];
    case "wrong":
      return [["Authorization", `Bearer ${FUZZ_ADMIN_TOKEN.slice(0, -1)}!`]];
    case "basic":
      return [["Authorization", "Basic Zm9vOmJhcg=="]];
    case "absent":
      return [];
  }
}

/** Checks any admin answer: problem+json with a documented code, or a 2xx document. */
function checkAdminAnswer(
  ctx: FuzzContext,
  c: AdminCase,
  what: string,
  sent: Sent,
  violations: string[],
  needsToken = true,
): RawAnswer | null {
  const { answer } = sent;
  if (answer === null) {
    violations.push(`${what}: ${sent.missing ?? "no answer"}`);
    return null;
  }
  ctx.tally?.(
    `admin ${needsToken ? what.replace(/\?.*/, "") : "call elsewhere under /__idempotency/"}: ${answer.status}`,
  );
  if (answer.status >= 200 && answer.status < 300) {
    const type = mediaType(answer);
    if (type !== "application/json" && type !== "text/html")
      violations.push(`${what}: a 2xx of type ${type}`);
    return answer;
  }
  const problem = checkProblem(answer, "POST", ctx.problems);
  if (!problem.ok)
    violations.push(`${what}: not a valid problem (${problem.why}): ${describeAnswer(answer)}`);
  else if (problem.code === "internal-error" || problem.code === "invalid-configuration") {
    violations.push(`${what}: ${problem.code}`);
  } else if (c.token !== "valid" && needsToken && problem.code !== "admin-unauthorized") {
    violations.push(`${what} without the token: ${problem.code}, not admin-unauthorized`);
  }
  return answer;
}

/** Runs one admin case; returns its violations. */
export async function runAdminCase(ctx: FuzzContext, c: AdminCase): Promise<string[]> {
  const violations: string[] = [];
  const host: [string, string][] = [
    ["Host", `127.0.0.1:${ctx.port}`],
    ["Connection", "close"],
  ];
  const call = (method: string, target: string, body: Uint8Array, type?: string) => {
    const headers: [string, string][] = [...host, ...adminAuthorization(c)];
    if (type !== undefined) headers.push(["Content-Type", type]);
    if (body.length > 0 || method === "POST") headers.push(["Content-Length", String(body.length)]);
    const marker = `${nextNonce()}admin`;
    return send(
      ctx,
      serialize({ method, target, headers: [...headers, ["X-Marker", marker]], body }),
      method,
      marker,
    );
  };
  const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value) ?? "null");
  switch (c.call.kind) {
    case "list": {
      const target = `/__idempotency/keys${c.call.query}`;
      checkAdminAnswer(
        ctx,
        c,
        `GET ${target}`,
        await call("GET", target, new Uint8Array()),
        violations,
      );
      break;
    }
    case "target": {
      const target = `/__idempotency/keys/${c.call.action}`;
      const sent = await call("POST", target, json(c.call.body), "application/json");
      checkAdminAnswer(ctx, c, `POST ${target}`, sent, violations);
      break;
    }
    case "raw": {
      const { method, path } = c.call;
      const sent = await call(method, path, Uint8Array.from(c.call.body));
      checkAdminAnswer(ctx, c, `${method} ${path}`, sent, violations, false);
      // Dot segments are resolved first (`/__idempotency/..` is `/`): only what stays under the
      // prefix is the gateway's own.
      const admin = new URL(path, "http://gateway.test").pathname.startsWith("/__idempotency");
      if (admin && sent.seen !== 0)
        violations.push(`${method} ${path}: an admin path reached the origin`);
      break;
    }
    case "resolve-flow":
      await runResolveFlow(ctx, c, c.call, call, violations);
      break;
  }
  return violations;
}

/** Drives a key to `unknown` at the hanging origin, resolves it as the case says, and retries. */
async function runResolveFlow(
  ctx: FuzzContext,
  c: AdminCase,
  flow: Extract<AdminCase["call"], { kind: "resolve-flow" }>,
  call: (method: string, target: string, body: Uint8Array, type?: string) => Promise<Sent>,
  violations: string[],
): Promise<void> {
  const nonce = nextNonce();
  const key = `${nonce}resolve`;
  const scopeHeaders = scopeFields(flow.scope);
  const hang = (marker: string) => {
    const headers: [string, string | Uint8Array][] = [
      ["Host", `127.0.0.1:${ctx.port}`],
      ["Connection", "close"],
      ["X-Marker", marker],
      ["Idempotency-Key", key],
      ["Content-Type", "application/json"],
      ["Content-Length", "12"],
      ...scopeHeaders,
    ];
    const bytes = serialize({
      method: "POST",
      target: "/hang",
      headers,
      body: new TextEncoder().encode('{"amount":1}'),
    });
    return send(ctx, bytes, "POST", marker);
  };
  const isUnknown = (sent: Sent) =>
    sent.answer !== null &&
    checkProblem(sent.answer, "POST", ctx.problems).ok &&
    JSON.parse(Buffer.from(sent.answer.body).toString("utf8")).code === "origin-outcome-unknown";

  const first = await hang(`${nonce}m1`);
  // Under load the origin may not have read the request before the 100 ms ran out: at most once.
  if (!isUnknown(first) || first.seen > 1) {
    violations.push(
      `the hanging origin's request was not 504 origin-outcome-unknown after one call: ${first.answer ? describeAnswer(first.answer) : first.missing}`,
    );
    return;
  }
  const scope = Object.fromEntries(
    scopeHeaders.map(([name, value]) => [name.toLowerCase(), Buffer.from(value).toString("utf8")]),
  );
  const body = new TextEncoder().encode(JSON.stringify({ key, scope, response: flow.resolve }));
  const resolved = await call("POST", "/__idempotency/keys/resolve", body, "application/json");
  const answer = checkAdminAnswer(ctx, c, "POST /__idempotency/keys/resolve", resolved, violations);
  if (answer === null) return;
  const retry = await hang(`${nonce}m2`);
  if (retry.seen !== 0)
    violations.push(`after a resolve, the retry reached the origin (${retry.seen})`);
  if (answer.status !== 200) {
    if (!isUnknown(retry))
      violations.push(
        `after a refused resolve, the retry was not 504 origin-outcome-unknown: ${retry.answer ? describeAnswer(retry.answer) : retry.missing}`,
      );
    return;
  }
  const spec = flow.resolve;
  const status = spec.status as number;
  if (retry.answer === null) {
    violations.push(`after a resolve: ${retry.missing ?? "no answer"}`);
    return;
  }
  if (retry.answer.status !== status || field(retry.answer, "idempotent-replayed") !== "true") {
    violations.push(
      `after resolving ${status}, the retry got ${describeAnswer(retry.answer)} (replayed: ${String(field(retry.answer, "idempotent-replayed"))})`,
    );
    return;
  }
  const expected =
    status === 204 || status === 205 || status === 304
      ? Buffer.alloc(0)
      : spec.bodyBase64 !== undefined
        ? Buffer.from(spec.bodyBase64, "base64")
        : Buffer.from(spec.body ?? "", "utf8");
  // The runtime encodes a body whose Content-Encoding it implements (gzip, br) and sends any
  // other as it is: either way, the client reads the resolved bytes.
  const raw = Buffer.from(retry.answer.body);
  let decoded: Uint8Array | null;
  try {
    decoded = decodedBody(retry.answer);
  } catch {
    decoded = null;
  }
  if (!raw.equals(expected) && (decoded === null || !Buffer.from(decoded).equals(expected))) {
    violations.push(
      `after resolving ${status}, the replayed body (${raw.length} bytes) is not the resolved one (${expected.length} bytes)`,
    );
  }
  ctx.tally?.(`resolved ${Math.floor(status / 100)}xx, then replayed`);
}
