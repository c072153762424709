import { readFileSync } from "node:fs";
import path from "node:path";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { PROJECT_ROOT } from "../wrangler-dev.ts";
import type { RawAnswer } from "./raw-http.ts";

/**
 * What every answer must be, whatever the request: a gateway error is `application/problem+json`
 * with a code the README documents, at the status it documents; what the gateway did not answer
 * itself comes from the origin (which saw the request) or is one of the runtime's own answers to
 * bytes that are not HTTP (docs/development.md, "Fuzzing"). Nothing here reads the gateway's code: the codes
 * come from the README's errors table.
 */

/** The README's errors table: code → status. */
export function documentedProblems(
  readme = path.join(PROJECT_ROOT, "README.md"),
): Map<string, number> {
  const text = readFileSync(readme, "utf8");
  const section = text.slice(text.indexOf("\n## Errors"), text.indexOf("\n## Client guidance"));
  const codes = new Map<string, number>();
  for (const match of section.matchAll(/^\| `([a-z-]+)`\s*\| (\d{3})\s*\|/gm)) {
    codes.set(match[1] ?? "", Number(match[2]));
  }
  if (codes.size < 10) throw new Error("README.md: the errors table was not found");
  return codes;
}

/**
 * Answers that come from `wrangler dev` or workerd, not from the gateway: their replies to a
 * request that is not valid HTTP/1.1, found by sending such requests (docs/development.md, "Fuzzing", lists
 * them). Allowed only for a request the fuzzer built broken; a well-formed one never gets them.
 */
export const RUNTIME_ANSWERS: readonly { status: number; body: RegExp; from: string }[] = [
  { status: 400, body: /^invalid HTTP method parsed$/, from: "workerd: a malformed request line" },
  {
    status: 400,
    body: /^invalid content-length parsed$/,
    from: "workerd: a bad or repeated Content-Length",
  },
  {
    status: 400,
    body: /^invalid HTTP header parsed$/,
    from: "workerd: a bad field name, a control byte, obs-fold",
  },
  {
    status: 400,
    body: /^invalid URI$/,
    from: "workerd: a byte outside ASCII in the request target",
  },
  { status: 400, body: /^Bad Request$/, from: "workerd: no Host field" },
  {
    status: 501,
    body: /^ERROR: Unrecognized request method\.$/,
    from: "workerd: an unknown method",
  },
  { status: 500, body: /^Internal Server Error$/, from: "workerd: CONNECT" },
  {
    status: 431,
    body: /^message head is too large$/,
    from: "workerd: a request head over about 500 KB",
  },
  {
    status: 500,
    body: /^Error: Network connection lost\./,
    from: "wrangler dev's proxy: a body that ends before its framing said",
  },
  {
    status: 500,
    body: /^Error: Promise will never complete\./,
    from: "wrangler dev's entry Worker: a GET or HEAD body cut short, which the gateway drains",
  },
];

/** The media type of an answer, lowercased, without parameters. */
export function mediaType(answer: RawAnswer): string {
  return (field(answer, "content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** A header field of an answer (the first, if repeated). */
export function field(answer: RawAnswer, name: string): string | undefined {
  return answer.headers.find(([n]) => n === name)?.[1];
}

/** The answer's body as its client would read it: `Content-Encoding` undone. */
export function decodedBody(answer: RawAnswer): Uint8Array {
  const encoding = (field(answer, "content-encoding") ?? "").trim().toLowerCase();
  const body = Buffer.from(answer.body);
  if (body.length === 0) return body;
  if (encoding === "gzip" || encoding === "x-gzip") return gunzipSync(body);
  if (encoding === "deflate") return inflateSync(body);
  if (encoding === "br") return brotliDecompressSync(body);
  return body;
}

/**
 * Which runtime answer this is, if it is one. The answer to a HEAD has no body to tell them
 * apart by: its status and type decide.
 */
export function runtimeAnswer(answer: RawAnswer, method: string): string | null {
  const text = Buffer.from(answer.body).toString("latin1");
  const type = mediaType(answer);
  if (type !== "" && type !== "text/plain") return null;
  const match = (r: (typeof RUNTIME_ANSWERS)[number]) =>
    r.status === answer.status && (method === "HEAD" || r.body.test(text));
  return RUNTIME_ANSWERS.find(match)?.from ?? null;
}

/**
 * Whether this is the answer of the origin's HTTP server (Node's) to bytes it cannot parse (a
 * control byte workerd let through), which the gateway passed on as the origin's answer: `400`,
 * no type, no content. The origin
 * never records such a request. Only a request the fuzzer built broken may get it.
 */
export function isOriginParserAnswer(answer: RawAnswer): boolean {
  const length = field(answer, "content-length");
  return (
    answer.status === 400 &&
    mediaType(answer) === "" &&
    answer.body.length === 0 &&
    (length === undefined || length === "0")
  );
}

/** A gateway problem, read and checked against the README's table. */
export type ProblemCheck = { ok: true; code: string | null } | { ok: false; why: string };

/**
 * Reads a problem+json answer and checks it: a documented code, at its documented status, with
 * the `type` and the `error` envelope the README shows. A HEAD answer has no body to read: only
 * its status is checked, against every documented one (`code` is then `null`).
 */
export function checkProblem(
  answer: RawAnswer,
  method: string,
  problems: Map<string, number>,
): ProblemCheck {
  if (mediaType(answer) !== "application/problem+json")
    return { ok: false, why: "not problem+json" };
  if (method === "HEAD") {
    return [...problems.values()].includes(answer.status)
      ? { ok: true, code: null }
      : { ok: false, why: `status ${answer.status} is no documented problem's` };
  }
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(Buffer.from(answer.body).toString("utf8")) as Record<string, unknown>;
  } catch {
    return { ok: false, why: "a problem+json body that is not JSON" };
  }
  const code = document.code;
  if (typeof code !== "string" || !problems.has(code)) {
    return { ok: false, why: `undocumented code ${JSON.stringify(code)}` };
  }
  if (problems.get(code) !== answer.status || document.status !== answer.status) {
    return {
      ok: false,
      why: `${code} answered ${answer.status}, documented ${problems.get(code)}`,
    };
  }
  if (document.type !== `/__idempotency/problems/${code}`)
    return { ok: false, why: `${code}: type ${String(document.type)}` };
  const envelope = document.error as { code?: unknown } | undefined;
  if (envelope?.code !== code)
    return { ok: false, why: `${code}: no error envelope with the code` };
  return { ok: true, code };
}

/** Fields that describe the connection or the framing, not the answer: left out of comparisons. */
const FRAMING = new Set([
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "idempotent-replayed",
]);

/**
 * How a replay differs from the answer it replays, or `null` when it does not: the same status,
 * the same end-to-end fields (in order), and the same body, byte for byte once decoded.
 */
export function replayDifference(first: RawAnswer, replay: RawAnswer): string | null {
  if (replay.status !== first.status) return `status ${replay.status}, first ${first.status}`;
  const fields = (a: RawAnswer) =>
    a.headers.filter(([n]) => !FRAMING.has(n)).map(([n, v]) => `${n}: ${v}`);
  const [a, b] = [fields(first), fields(replay)];
  if (a.join("\n") !== b.join("\n"))
    return `fields ${JSON.stringify(b)}, first ${JSON.stringify(a)}`;
  const [x, y] = [Buffer.from(first.body), Buffer.from(replay.body)];
  if (!x.equals(y)) return `body of ${y.length} bytes differs from the first's ${x.length}`;
  return null;
}
