import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { parseConfig } from "../../src/config/config";
import { SETTINGS } from "../../src/config/settings";
import { TABLE_MARKERS, settingsTable } from "../../src/config/settings-table";

const ROOT = join(import.meta.dirname, "..", "..");

/** A Markdown table's rows as trimmed cells, without the separator row (prettier pads cells). */
function tableRows(markdown: string): string[][] {
  return markdown
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, -1)
        .split("|")
        .map((cell) => cell.trim()),
    );
}

/** The repository's own Markdown pages (tracked or new), without dependencies' and results'. */
function markdownFiles(): string[] {
  return execFileSync("git", ["ls-files", "-co", "--exclude-standard", "*.md"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter(
      (file) => file !== "" && existsSync(join(ROOT, file)) && !file.startsWith("bench/results/"),
    );
}

/** The targets of a page's inline links that stay in the repository (no scheme, not a bare #). */
function relativeLinks(markdown: string): string[] {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...withoutCode.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1] as string)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Whether `link`, written in `page`, names an existing file and, after `#`, one of its headings. */
function linkResolves(page: string, link: string): boolean {
  const [path = "", fragment] = link.split("#");
  const target = path === "" ? join(ROOT, page) : join(ROOT, dirname(page), path);
  if (!existsSync(target)) return false;
  if (fragment === undefined || statSync(target).isDirectory()) return true;
  const headings = readFileSync(target, "utf8")
    .split("\n")
    .filter((line) => /^#{1,6} /.test(line))
    .map((line) => slug(line.replace(/^#+ /, "")));
  return headings.includes(fragment);
}

describe("the configuration reference", () => {
  it("holds the table the setting declarations generate (npm run docs writes it)", () => {
    const reference = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
    const start = reference.indexOf(TABLE_MARKERS.start);
    const end = reference.indexOf(TABLE_MARKERS.end);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(tableRows(reference.slice(start, end))).toEqual(tableRows(settingsTable()));
  });
});

describe("the README", () => {
  it("stays an entry a new user reads through: at most 300 lines", () => {
    const lines = readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length;
    expect(lines).toBeLessThanOrEqual(300);
  });

  it("holds the commands a fresh clone needs: install, start, test", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toMatch(/^npm ci\b/m);
    expect(readme).toMatch(/^npm start\b/m);
    expect(readme).toMatch(/^npm test\b/m);
  });
});

describe("links between the documents", () => {
  it("each resolve to a file in the repository, and each #fragment to a heading in it", () => {
    const pages = markdownFiles();
    const broken = pages.flatMap((page) =>
      relativeLinks(readFileSync(join(ROOT, page), "utf8"))
        .filter((link) => !linkResolves(page, link))
        .map((link) => `${page}: ${link}`),
    );
    expect(broken).toEqual([]);
  });
});

describe("wrangler.toml", () => {
  const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml") });

  it("sets only declared variables, each to a valid value", () => {
    const vars = config.vars as Record<string, unknown>;
    for (const name of Object.keys(vars)) expect(Object.keys(SETTINGS)).toContain(name);
    const result = parseConfig(vars);
    expect(result.ok ? null : result.error).toBeNull();
  });

  it("does NOT restate a default: a default lives in one place, the declarations", () => {
    const vars = config.vars as Record<string, unknown>;
    for (const [name, value] of Object.entries(vars)) {
      expect(value, name).not.toBe(SETTINGS[name as keyof typeof SETTINGS].default);
    }
  });
});

describe("the repository stands on its own", () => {
  it("cites no document that is not in it (a contract, platform notes, issue numbers)", () => {
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], {
      cwd: ROOT,
      encoding: "utf8",
    })
      .split("\n")
      .filter((file) => /\.(ts|md|toml|json|js)$/.test(file) && file !== "package-lock.json");
    // Built from parts, so this file does not match itself.
    const citation = new RegExp(
      [
        "CONTRACT" + "\\.md",
        "platform" + "-notes",
        "\\.\\./" + "shared/",
        "[Ii]ssue" + " #?\\d+",
      ].join("|"),
    );
    const offenders = files.filter((file) => {
      try {
        return citation.test(readFileSync(join(ROOT, file), "utf8"));
      } catch {
        return false; // listed but deleted in the working tree
      }
    });
    expect(offenders).toEqual([]);
  });
});
