/**
 * `npm run docs`: writes the generated parts of the documentation — the configuration
 * reference's table (docs/configuration.md), from the setting declarations — and formats the result with prettier.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { format, resolveConfig } from "prettier";
import { TABLE_MARKERS, settingsTable } from "../src/config/settings-table.ts";

const reference = join(import.meta.dirname, "..", "docs", "configuration.md");
const text = await readFile(reference, "utf8");
const start = text.indexOf(TABLE_MARKERS.start);
const end = text.indexOf(TABLE_MARKERS.end);
if (start < 0 || end < start) {
  throw new Error(
    `docs/configuration.md must hold the markers ${TABLE_MARKERS.start} … ${TABLE_MARKERS.end}`,
  );
}
const updated =
  text.slice(0, start + TABLE_MARKERS.start.length) +
  "\n\n" +
  settingsTable() +
  "\n\n" +
  text.slice(end);
const options = { ...(await resolveConfig(reference)), filepath: reference };
await writeFile(reference, await format(updated, options));
console.log("docs/configuration.md: configuration table written");
