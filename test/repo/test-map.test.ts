import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The test map of `test/README.md` names tests as `` `path/to/file.test.ts` › `describe › test` ``.
 * A renamed, moved or deleted test would leave the map pointing at nothing, so every reference is
 * checked against the file it names: the file must exist, and each title segment must be the
 * literal title (first argument) of a `describe`/`it`/`test` call, or of the call that an
 * `.each(...)` returns, in that file, each declared after the one before it (a textual stand-in
 * for nesting). Titles with placeholders (`%s`, `%i`, `${…}`) are named as written in the source.
 */

const ROOT = join(import.meta.dirname, "..", "..");
const MAP = "test/README.md";

interface Reference {
  /** The reference as written in the map, for the failure message. */
  text: string;
  file: string;
  titles: string[];
}

/** A code span naming a test file, ` › `, then a code span naming its titles. */
const REFERENCE = /`([^`\s]+\.test\.ts)`\s*›\s*`([^`]+)`/g;

function referencesIn(markdown: string): Reference[] {
  return [...markdown.matchAll(REFERENCE)].map((match) => ({
    text: match[0].replace(/\s+/g, " "),
    file: match[1] ?? "",
    titles: (match[2] ?? "").split("›").map((title) => title.replace(/\s+/g, " ").trim()),
  }));
}

/** A JavaScript string or template literal on one line (templates may span lines). */
const LITERAL = String.raw`"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|` + "`(?:[^`\\\\]|\\\\.)*`";

/** The first argument of `describe(`, `it(`, `test(` (and `.skip`…), or of `.each(...)(`. */
const TITLE = new RegExp(
  String.raw`(?:\b(?:describe|it|test)(?:\.[a-z]+)*|\))\s*\(\s*(` + LITERAL + String.raw`)\s*,`,
  "g",
);

const ESCAPES: Readonly<Record<string, string>> = { n: "\n", t: "\t", r: "\r", 0: "\0" };

/** The text of a literal: quotes removed, escapes resolved, `${…}` left as written. */
function unquote(literal: string): string {
  return literal
    .slice(1, -1)
    .replace(
      /\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\s\S])/g,
      (_, escape: string) => {
        if (/^[ux]/.test(escape) && escape.length > 1) {
          return String.fromCodePoint(parseInt(escape.replace(/[ux{}]/g, ""), 16));
        }
        return ESCAPES[escape] ?? escape;
      },
    );
}

/** Each title the file declares, with where it is declared. */
function titlesIn(source: string): { title: string; at: number }[] {
  return [...source.matchAll(TITLE)].map((match) => ({
    title: unquote(match[1] ?? "").replace(/\s+/g, " "),
    at: match.index,
  }));
}

/** Why a reference does not name a test of its file, or null when it does. */
function problemWith(reference: Reference): string | null {
  const path = join(ROOT, reference.file);
  if (!existsSync(path)) return `${reference.text}: no file ${reference.file}`;
  const declared = titlesIn(readFileSync(path, "utf8"));
  let after = -1;
  let outer = "";
  for (const title of reference.titles) {
    const found = declared.filter((entry) => entry.title === title);
    if (found.length === 0) return `${reference.text}: no describe/it titled "${title}"`;
    const next = found.find((entry) => entry.at > after);
    if (next === undefined) return `${reference.text}: "${title}" is not declared after "${outer}"`;
    after = next.at;
    outer = title;
  }
  return null;
}

describe("the test map in test/README.md", () => {
  const references = referencesIn(readFileSync(join(ROOT, MAP), "utf8"));

  it("names tests, so it cannot pass by naming none", () => {
    expect(references.length).toBeGreaterThan(0);
  });

  it("points every reference at a test file that exists", () => {
    const missing = references
      .filter((reference) => !existsSync(join(ROOT, reference.file)))
      .map((reference) => reference.text);
    expect(missing).toEqual([]);
  });

  it("names only describe and test titles that the referenced file declares, in nesting order", () => {
    const broken = references
      .map(problemWith)
      .filter((problem): problem is string => problem !== null);
    expect(broken).toEqual([]);
  });
});
