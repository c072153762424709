/**
 * The gateway's code in an RFC 9457 `application/problem+json` body, which it sets on every error
 * it produces itself (`origin-outcome-unknown`, `request-in-progress`, …): the `code` member,
 * or `error.code` where that is a string. The two agree in every error dialect but `acp`, whose
 * clients read `code` as the Agentic Commerce Protocol's own (`idempotency_in_flight`…) and which
 * keeps the gateway's in `error.code` (docs/errors.md).
 *
 * The body is read from a clone, so `response` stays readable for the caller. Anything that is
 * not a problem document with a string `code` gives `undefined`: that answer did not come from
 * the gateway.
 *
 * @param response - a response whose body has not been read
 * @returns the problem code, or `undefined`
 *
 * @example
 * ```ts
 * if ((await readProblemCode(response)) === "origin-outcome-unknown") {
 *   await reconcile(paymentReference);
 * }
 * ```
 */
export async function readProblemCode(response: Response): Promise<string | undefined> {
  const contentType = response.headers.get("Content-Type")?.trim().toLowerCase() ?? "";
  if (!contentType.startsWith("application/problem+json")) return undefined;
  let body: unknown;
  try {
    body = await response.clone().json();
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const envelope = "error" in body ? body.error : undefined;
  if (typeof envelope === "object" && envelope !== null && "code" in envelope) {
    if (typeof envelope.code === "string") return envelope.code;
  }
  return "code" in body && typeof body.code === "string" ? body.code : undefined;
}
