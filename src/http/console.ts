import { CONSOLE_SCRIPT, CONSOLE_STYLE, consoleHtml } from "./console-page";

/**
 * Serves the operator console (`GET /__idempotency/console`) under a strict
 * Content-Security-Policy: nothing but this page's own style and script, allowed by their
 * SHA-256 hashes (CSP Level 3, "hash-source"), never `'unsafe-inline'`; requests only to this
 * origin; no framing, no forms posted anywhere, no markup built from strings (Trusted Types).
 */

let policy: Promise<string> | undefined;

/**
 * The console's response. The policy is computed once per isolate: the hashes are of constant
 * text (WebCrypto is not available while the module is first evaluated).
 *
 * @example
 * admin.get("/console", () => consoleResponse());
 */
export async function consoleResponse(): Promise<Response> {
  policy ??= contentSecurityPolicy();
  return new Response(consoleHtml(), {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": await policy,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-resource-policy": "same-origin",
    },
  });
}

async function contentSecurityPolicy(): Promise<string> {
  const [script, style] = await Promise.all([
    hashSource(CONSOLE_SCRIPT),
    hashSource(CONSOLE_STYLE),
  ]);
  return [
    "default-src 'none'",
    `script-src '${script}'`,
    `style-src '${style}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join("; ");
}

/** `sha256-<base64>` of the exact text between the element's tags. */
async function hashSource(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return `sha256-${btoa(String.fromCharCode(...digest))}`;
}
