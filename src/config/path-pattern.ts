/**
 * Route patterns for `IDEMPOTENCY_ROUTES`: the pathname syntax of the platform's URLPattern
 * (WHATWG URL Pattern Standard), restricted to what per-operation rules need, so that which of
 * several matching patterns wins can be stated simply:
 *
 * - literal characters match themselves (case-sensitive, as sent: `url.pathname`);
 * - `:name` matches one path segment or the rest of one (`[^/]+`), e.g. `/v2/orders/:id/capture`;
 * - a trailing `*` matches any rest of the path, empty included, e.g. `/v1/refunds/*`.
 *
 * Groups, regular expressions and modifiers (`(…)`, `{…}`, `?`, `+`, a `*` that does not end the
 * pattern or follows `:name`) are refused rather than half-supported. Pure: no I/O.
 */

/** A parsed pattern: how to match it, and what its specificity is made of. */
export interface PathPattern {
  /** The pattern as written. */
  readonly source: string;
  /** Whether it ends with `*`. */
  readonly wildcard: boolean;
  /** How many `:name` parameters it has. */
  readonly params: number;
  /** How many literal characters it has. */
  readonly literals: number;
  /** Whether `path` (a URL's pathname) matches the whole pattern. */
  matches(path: string): boolean;
}

/** The result of `parsePathPattern`: the pattern, or why it is not one. */
export type PatternResult = { ok: true; pattern: PathPattern } | { ok: false; reason: string };

// URLPattern names are JavaScript identifiers; ASCII ones are enough for route rules.
const NAME = /^[A-Za-z_$][A-Za-z0-9_$]*/;
// Non-ASCII would need URLPattern's percent-encoding of the pattern to compare with a pathname.
const UNSUPPORTED = /[(){}?+\\#]|[^\x21-\x7e]/;

/**
 * Parses a route pattern.
 *
 * @example
 * const result = parsePathPattern("/v2/checkout/orders/:id/capture");
 * if (result.ok) result.pattern.matches("/v2/checkout/orders/5O190127/capture"); // true
 */
export function parsePathPattern(source: string): PatternResult {
  if (!source.startsWith("/")) return invalid('must be a path starting with "/"');
  if (UNSUPPORTED.test(source)) {
    return invalid(
      'must use only printable ASCII literals, ":name" (one segment) and a trailing "*" (URLPattern pathname syntax without groups, regular expressions or modifiers)',
    );
  }
  let regex = "^";
  let literals = 0;
  let wildcard = false;
  const names = new Set<string>();
  for (let at = 0; at < source.length;) {
    const char = source.charAt(at);
    if (char === "*") {
      if (at !== source.length - 1) return invalid('may have "*" only at its end (any rest)');
      regex += "(.*)";
      wildcard = true;
      at++;
    } else if (char === ":") {
      const name = NAME.exec(source.slice(at + 1))?.[0];
      if (name === undefined) return invalid('must name each parameter (":name")');
      if (names.has(name)) return invalid(`must not repeat the parameter ":${name}"`);
      names.add(name);
      at += 1 + name.length;
      if (source.charAt(at) === "*") {
        return invalid(`must not follow ":${name}" with "*" (a URLPattern modifier); use "/*"`);
      }
      // URLPattern's default segment pattern, `[^/]+?`, anchored as a whole.
      regex += "([^/]+?)";
    } else {
      regex += char.replace(/[.^$|[\]]/g, "\\$&");
      literals++;
      at++;
    }
  }
  const compiled = new RegExp(`${regex}$`);
  return {
    ok: true,
    pattern: Object.freeze({
      source,
      wildcard,
      params: names.size,
      literals,
      matches: (path: string) => compiled.test(path),
    }),
  };
}

function invalid(reason: string): PatternResult {
  return { ok: false, reason };
}

/**
 * Orders two patterns from most to least specific: one without a trailing `*` first, then the one
 * with fewer `:name` parameters, then the one with more literal characters. Patterns equal on all
 * three keep their declaration order (a stable sort).
 *
 * @example
 * ["/v1/*", "/v1/refunds/:id", "/v1/refunds/special"].map(p).sort(bySpecificity);
 * // "/v1/refunds/special", "/v1/refunds/:id", "/v1/*"
 */
export function bySpecificity(a: PathPattern, b: PathPattern): number {
  return Number(a.wildcard) - Number(b.wildcard) || a.params - b.params || b.literals - a.literals;
}
