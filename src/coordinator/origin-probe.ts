/**
 * Proving that nothing reached the origin (docs/adr/0005).
 *
 * workerd's fetch reports a refused connection exactly like a connection lost after the request
 * was written (workerd#7195), so a failed forward is an unknown outcome and fails closed. To
 * answer `502 origin-unreachable` with the key released instead, the coordinator must know
 * *before* sending that the origin is not there. So, when it has no recent proof that the origin
 * answers — nothing heard from it in this isolate for `CONTACT_WINDOW_MS`, or a forward just
 * failed ambiguously — it first sends a probe: `HEAD` on `IDEMPOTENCY_PROBE_PATH` under the
 * origin's base URL (default `/`), a safe method (RFC 9110 §9.2.1) that changes nothing there.
 * Where the origin's firewall resets or drops a bare `HEAD`, the path names one it answers (a
 * health endpoint); `off` turns the probe off, and a failed forward then always fails closed.
 *
 * - Any HTTP answer, whatever its status, proves the origin reachable: the request is forwarded.
 * - A probe that throws proves nothing answers: the request is never sent, the key is released.
 * - A probe that times out cannot tell: the request is forwarded as usual (and fails closed if
 *   the origin is really gone).
 *
 * The probe uses the same `fetch` path as the forward, so it reaches whatever the forward
 * reaches (an origin behind Cloudflare's proxy included, where raw sockets are refused): it can
 * never make a healthy origin unavailable.
 *
 * An origin reached through the `ORIGIN` service binding is never probed: there is no connection
 * that could be refused, so a probe could prove nothing, and a `HEAD /` the origin Worker does not
 * handle would throw and be misread as "unreachable" — making a healthy origin unavailable. A
 * failed call through a binding fails closed instead (`callOrigin`).
 */

/** With no answer from the origin for this long, the next new key probes first. */
export const CONTACT_WINDOW_MS = 30_000;

/** How long an origin stays suspect after an ambiguous connection failure. */
export const SUSPECT_MS = 30_000;

/** How long a probe may take before it counts as inconclusive. */
export const PROBE_TIMEOUT_MS = 3_000;

// Module scope: shared by every coordinator object in this isolate, keyed by origin host. Best
// effort: another isolate learns on its own.
const lastContact = new Map<string, number>();
const suspectUntil = new Map<string, number>();

/** The host the isolate's memory is kept under; `""` when there is no URL (a binding's origin). */
function hostOf(originUrl: string): string {
  return URL.canParse(originUrl) ? new URL(originUrl).host : "";
}

/** Records an answer from the origin: it is reachable, and no longer suspect. */
export function markContact(originUrl: string, now: number): void {
  const host = hostOf(originUrl);
  lastContact.set(host, now);
  suspectUntil.delete(host);
}

/** Marks the origin suspect after a connection failure whose outcome is unknown. */
export function markSuspect(originUrl: string, now: number): void {
  suspectUntil.set(hostOf(originUrl), now + SUSPECT_MS);
}

/**
 * Whether a request to `originUrl` must be preceded by a probe: never through a service binding,
 * nor with the probe off.
 *
 * @param binding - the `ORIGIN` service binding, when the origin is reached through it
 * @param probePath - `IDEMPOTENCY_PROBE_PATH`; `null`: off
 */
export function needsProbe(
  originUrl: string,
  now: number,
  binding?: Fetcher,
  probePath: string | null = "/",
): boolean {
  if (binding !== undefined || probePath === null) return false;
  const host = hostOf(originUrl);
  if ((suspectUntil.get(host) ?? 0) > now) return true;
  return now - (lastContact.get(host) ?? -Infinity) > CONTACT_WINDOW_MS;
}

/** What a probe showed: `inconclusive` is a probe that timed out. */
export type ProbeResult = "reachable" | "unreachable" | "inconclusive";

/** Options of `probeOrigin`. */
export interface ProbeOptions {
  /** `IDEMPOTENCY_PROBE_PATH`: where under the origin's base URL the probe goes. @default "/" */
  path?: string;
  /** Tests pass a fake through the same door. @default fetch */
  fetchImpl?: typeof fetch;
}

/**
 * Sends `HEAD` to `path` under the origin's base URL.
 *
 * @param headers - sent with the probe (the hop marker, so a route loop is caught as usual)
 * @example
 * if (needsProbe(url, Date.now()) && (await probeOrigin(url, hop, { path: "/health" })) === "unreachable") return unreachable();
 */
export async function probeOrigin(
  originUrl: string,
  headers: [string, string][],
  { path = "/", fetchImpl = fetch }: ProbeOptions = {},
): Promise<ProbeResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
  try {
    const response = await fetchImpl(`${originUrl}${path}`, {
      method: "HEAD",
      headers,
      redirect: "manual",
      signal: controller.signal,
    });
    await response.body?.cancel();
    markContact(originUrl, Date.now());
    return "reachable";
  } catch {
    return controller.signal.aborted ? "inconclusive" : "unreachable";
  } finally {
    clearTimeout(timer);
  }
}
