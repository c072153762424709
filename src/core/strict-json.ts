/**
 * A strict JSON parser for request bodies the gateway must read: a `json:` key source, and the
 * `json` fingerprint (docs/configuration.md, "The key" and "Comparing bodies"). Pure; never throws.
 *
 * Why not `JSON.parse` alone: it silently keeps the last of two members with the same name,
 * while other parsers keep the first, so a body such as `{"amount":1,"amount":1000}` means
 * different things to the gateway and to the origin. RFC 8259 §4 leaves such a body's meaning to
 * each implementation and RFC 7493 §2.3 (I-JSON) forbids it; this parser refuses it. It also
 * reports whether the document can be canonicalised exactly (RFC 8785 §3.2.2: every string
 * well-formed Unicode, every number one a double holds without changing its value).
 *
 * How: one pass over the text checks the RFC 8259 grammar, the names of each object and every
 * number literal, without building anything; then the runtime's `JSON.parse` (native, and
 * iterative in V8, so a deeply nested body cannot overflow the stack) builds the value. The scan
 * is iterative too.
 */

/** A parsed JSON value. A member named `__proto__` is an own member (`JSON.parse` semantics). */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A parsed JSON object. Read its members with `Object.hasOwn`, never through the prototype. */
export interface JsonObject {
  [name: string]: JsonValue;
}

/** The outcome of parsing a body. */
export type StrictJsonResult =
  | {
      ok: true;
      value: JsonValue;
      /**
       * `false` when RFC 8785 cannot represent the document without changing it: a number a
       * double does not hold exactly (`1e400`, `12345678901234567890`, `0.10000000000000001`),
       * or a string or name with a lone surrogate (`"\ud800"`).
       */
      exact: boolean;
    }
  | { ok: false; reason: string };

// RFC 8259 §8.1: JSON exchanged between systems is UTF-8. A leading byte order mark is ignored
// (§8.1 allows it; TextDecoder drops it, as `ignoreBOM: false` asks).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * Parses a body as one JSON text (RFC 8259).
 *
 * @returns the value and whether it is exactly canonicalisable, or why the body is not JSON:
 *   not UTF-8, a syntax error, or a repeated member name. The reason never quotes the body.
 * @example
 * parseStrictJson(new TextEncoder().encode('{"a":1}'));       // { ok: true, value: { a: 1 }, exact: true }
 * parseStrictJson(new TextEncoder().encode('{"a":1,"a":2}')); // { ok: false, reason: "…" }
 */
export function parseStrictJson(bytes: Uint8Array): StrictJsonResult {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: "it is not valid UTF-8" };
  }
  const scanned = scan(text);
  if (typeof scanned === "string") return { ok: false, reason: scanned };
  // The scan accepted exactly the RFC 8259 grammar, which JSON.parse implements.
  return { ok: true, value: JSON.parse(text) as JsonValue, exact: scanned.exact };
}

// Character codes.
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** RFC 8259 §7: the characters that may follow a backslash. */
const ESCAPABLE = new Set([...'"\\/bfnrtu'].map((c) => c.charCodeAt(0)));
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Thrown inside the scan, caught at its entry: the first syntax error ends it. */
class Malformed {
  readonly reason: string;
  constructor(what: string, index: number) {
    this.reason = `${what} at character ${index}`;
  }
}

/** What the scan learns beyond "well-formed". */
interface ScanState {
  exact: boolean;
}

/**
 * Checks `text` against the RFC 8259 grammar, refusing repeated member names. Iterative, and
 * written as plain functions over an index: it reads every character of bodies up to 16 MiB.
 *
 * @returns whether the document is exact, or the reason it is malformed
 */
function scan(text: string): { exact: boolean } | string {
  try {
    const state: ScanState = { exact: true };
    // One entry per open container: the names seen so far for an object, `null` for an array.
    const open: (Set<string> | null)[] = [];
    let i = 0;
    for (;;) {
      // A value.
      i = whitespace(text, i);
      const c = text.charCodeAt(i);
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        i = whitespace(text, i + 1);
        if (text.charCodeAt(i) === (c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
          i++;
        } else if (c === OPEN_OBJECT) {
          const names = new Set<string>();
          open.push(names);
          i = member(text, i, names, state);
          continue;
        } else {
          open.push(null);
          continue;
        }
      } else if (c === QUOTE) {
        i = string(text, i, state, null);
      } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
        i = number(text, i, state);
      } else if (text.startsWith("true", i) || text.startsWith("null", i)) {
        i += 4;
      } else if (text.startsWith("false", i)) {
        i += 5;
      } else {
        throw new Malformed("a value is expected", i);
      }
      // The value is complete: close the containers it completes.
      for (;;) {
        i = whitespace(text, i);
        const names = open.at(-1);
        if (names === undefined) {
          if (i !== text.length) throw new Malformed("text follows the JSON value", i);
          return { exact: state.exact };
        }
        const next = text.charCodeAt(i);
        if (next === COMMA) {
          if (names !== null) i = member(text, i + 1, names, state);
          else i++;
          break;
        }
        if (next !== (names === null ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          throw new Malformed(
            names === null ? '"," or "]" is expected' : '"," or "}" is expected',
            i,
          );
        }
        i++;
        open.pop();
      }
    }
  } catch (error) {
    if (error instanceof Malformed) return error.reason;
    throw error;
  }
}

function whitespace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) return i;
    i++;
  }
}

/** Reads `"name" :` at `i` (after whitespace) into `names`; returns the index after the colon. */
function member(text: string, i: number, names: Set<string>, state: ScanState): number {
  i = whitespace(text, i);
  if (text.charCodeAt(i) !== QUOTE) throw new Malformed("a member name is expected", i);
  const start = i;
  const name: { value: string } = { value: "" };
  i = string(text, i, state, name);
  // RFC 8259 §4: "The names within an object SHOULD be unique"; RFC 7493 §2.3: MUST.
  if (names.has(name.value)) {
    throw new Malformed("a member name is repeated (parsers differ on which one counts)", start);
  }
  names.add(name.value);
  i = whitespace(text, i);
  if (text.charCodeAt(i) !== COLON) throw new Malformed('":" is expected', i);
  return i + 1;
}

/**
 * Reads a string at `i` (its opening quote); returns the index after it. `into`, when given,
 * receives the decoded value (member names, which are compared).
 */
function string(text: string, i: number, state: ScanState, into: { value: string } | null): number {
  const start = i;
  let escaped = false;
  for (i++; ; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) break;
    if (c < SPACE) throw new Malformed("a control character is not escaped", i);
    if (c === BACKSLASH) {
      const e = text.charCodeAt(i + 1);
      if (!ESCAPABLE.has(e)) throw new Malformed("an escape is malformed", i);
      if (e === 0x75 && !HEX4.test(text.slice(i + 2, i + 6))) {
        throw new Malformed("a \\u escape is malformed", i);
      }
      escaped = true;
      i++;
    } else if (Number.isNaN(c)) {
      throw new Malformed("a string is not terminated", start);
    }
  }
  i++;
  if (escaped) {
    const value = JSON.parse(text.slice(start, i)) as string;
    // Only an escape can produce a lone surrogate: decoded UTF-8 text has none.
    if (!value.isWellFormed()) state.exact = false;
    if (into !== null) into.value = value;
  } else if (into !== null) {
    into.value = text.slice(start + 1, i - 1);
  }
  return i;
}

function digits(text: string, i: number): number {
  let c = text.charCodeAt(i);
  while (c >= ZERO && c <= NINE) c = text.charCodeAt(++i);
  return i;
}

/** Reads a number at `i` (RFC 8259 §6); returns the index after it. */
function number(text: string, i: number, state: ScanState): number {
  const start = i;
  if (text.charCodeAt(i) === MINUS) i++;
  if (text.charCodeAt(i) === ZERO) i++;
  else if (digits(text, i) === i) throw new Malformed("a number is malformed", start);
  else i = digits(text, i);
  if (text.charCodeAt(i) === DOT) {
    if (digits(text, i + 1) === i + 1) throw new Malformed("a number is malformed", start);
    i = digits(text, i + 1);
  }
  if ((text.charCodeAt(i) | 0x20) === 0x65) {
    i++;
    if (text.charCodeAt(i) === PLUS || text.charCodeAt(i) === MINUS) i++;
    if (digits(text, i) === i) throw new Malformed("a number is malformed", start);
    i = digits(text, i);
  }
  if (state.exact) {
    const literal = text.slice(start, i);
    const value = Number(literal);
    // The common case first: the literal is already the number's shortest form.
    if (String(value) !== literal && !holdsExactly(literal, value)) state.exact = false;
  }
  return i;
}

/**
 * Whether `value`, the double nearest to the decimal `literal`, still has the literal's value:
 * the literal and the double's shortest form (ECMAScript Number::toString, which RFC 8785
 * §3.2.2.3 uses) denote the same decimal number. `1.0`, `1e2` and `-0` do; `1e400` (Infinity),
 * `12345678901234567890` and `0.10000000000000001` do not: two different literals would
 * canonicalise alike.
 *
 * @example
 * holdsExactly("1e2", 100);                       // true
 * holdsExactly("9007199254740993", 9007199254740992); // false
 */
export function holdsExactly(literal: string, value: number): boolean {
  if (!Number.isFinite(value)) return false;
  const a = decimal(literal);
  const b = decimal(String(value));
  return (
    a.digits === b.digits &&
    (a.digits === "" || (a.negative === b.negative && a.exponent === b.exponent))
  );
}

/** A decimal number as sign, significant digits (no leading or trailing zeros) and exponent. */
function decimal(text: string): { negative: boolean; digits: string; exponent: number } {
  const match = /^(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(text);
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = match ?? [];
  const significant = (whole + fraction).replace(/^0+/, "");
  const digits = significant.replace(/0+$/, "");
  return {
    negative: sign === "-",
    digits,
    exponent: Number(exponent) - fraction.length + (significant.length - digits.length),
  };
}
