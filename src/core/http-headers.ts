/**
 * Header rules shared by the forwarder and the stored form.
 */

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1) describe one connection, not the message, so they are
 * neither forwarded nor stored; `content-length` is recomputed by the runtime from the body and
 * `host` from the target URL.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "host",
]);

/**
 * Whether a field (lowercase name) is hop-by-hop, so never forwarded.
 *
 * @example
 * isHopByHop("connection"); // true
 */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/**
 * The end-to-end fields of `headers` as name/value pairs, without hop-by-hop fields and without
 * any field that `Connection` names. `Set-Cookie` keeps one pair per cookie.
 *
 * @example
 * endToEndHeaders(new Headers({ connection: "close", "x-a": "1" })); // [["x-a", "1"]]
 */
export function endToEndHeaders(headers: Headers): [string, string][] {
  const listed = new Set(
    (headers.get("connection") ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ""),
  );
  const out: [string, string][] = [];
  for (const [name, value] of headers) {
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (name === "set-cookie") continue;
    out.push([name, value]);
  }
  // The Fetch API joins repeated fields with ", " — fatal for Set-Cookie (RFC 6265 §3).
  if (!listed.has("set-cookie")) {
    for (const cookie of headers.getSetCookie()) out.push(["set-cookie", cookie]);
  }
  return out;
}
