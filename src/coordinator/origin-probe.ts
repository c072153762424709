import { connect } from "cloudflare:sockets";

/**
 * Proving that nothing reached the origin.
 *
 * workerd's fetch reports a refused connection exactly like a connection lost after the request
 * was written (workerd#7195), so the request that meets a down origin fails closed. After such a
 * failure the origin is *suspect* for a while: each request for a new key first opens a bare TCP
 * connection to it. If that is refused, the request is never sent — so nothing reached the
 * origin, and the key is released (`502 origin-unreachable`, README "Outcomes"). If it opens, the
 * suspicion ends and the request is forwarded as usual. See docs/adr/0005.
 */

/** How long an origin stays suspect after an ambiguous connection failure. */
export const SUSPECT_MS = 30_000;

/** How long a probe may take to connect before the origin counts as unreachable. */
export const PROBE_TIMEOUT_MS = 3_000;

// Module scope: shared by every coordinator object in this isolate, so one object's failure
// spares the next object a blind forward. Best effort: another isolate learns on its own.
const suspectUntil = new Map<string, number>();

function hostAndPort(originUrl: string): { hostname: string; port: number } {
  const url = new URL(originUrl);
  const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  return { hostname: url.hostname, port };
}

/** Marks the origin suspect after a connection failure whose outcome is unknown. */
export function markSuspect(originUrl: string, now: number): void {
  suspectUntil.set(new URL(originUrl).host, now + SUSPECT_MS);
}

/** Whether requests to `originUrl` must be preceded by a probe. */
export function isSuspect(originUrl: string, now: number): boolean {
  // The usual case, on every forwarded request: no origin is suspect, so no URL to parse.
  if (suspectUntil.size === 0) return false;
  const host = new URL(originUrl).host;
  const until = suspectUntil.get(host);
  if (until === undefined) return false;
  if (until <= now) {
    suspectUntil.delete(host);
    return false;
  }
  return true;
}

/**
 * Opens and closes a TCP connection to the origin. `false` means the connection could not be
 * opened — no byte of any request was sent on it. A success clears the suspicion.
 *
 * @example
 * if (isSuspect(url, Date.now()) && !(await probeOrigin(url))) return unreachable();
 */
export async function probeOrigin(originUrl: string): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const socket = connect(hostAndPort(originUrl));
  // `closed` rejects too when the connection is refused; `opened` is the one awaited.
  socket.closed.catch(() => undefined);
  try {
    await Promise.race([
      socket.opened,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("probe timed out")), PROBE_TIMEOUT_MS);
      }),
    ]);
    suspectUntil.delete(new URL(originUrl).host);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    socket.close().catch(() => undefined);
  }
}
