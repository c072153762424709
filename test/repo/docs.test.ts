import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
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

describe("the README's configuration table", () => {
  it("is the table the setting declarations generate (npm run docs writes it)", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const start = readme.indexOf(TABLE_MARKERS.start);
    const end = readme.indexOf(TABLE_MARKERS.end);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    expect(tableRows(readme.slice(start, end))).toEqual(tableRows(settingsTable()));
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
