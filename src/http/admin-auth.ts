/**
 * Checks `Authorization: Bearer <token>` against the configured admin token in constant time:
 * both sides are hashed first, so neither the comparison nor the digest lengths depend on how
 * much of a guess was right.
 *
 * @example
 * if (!(await isAdmin(request.headers.get("authorization"), env.ADMIN_TOKEN))) return unauthorized();
 */
export async function isAdmin(authorization: string | null, token: string): Promise<boolean> {
  const presented = /^Bearer (.+)$/.exec(authorization ?? "")?.[1] ?? "";
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(token)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
