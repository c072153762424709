import { bareFor, type BenchResults, type Cell } from "./report.ts";

/**
 * The run at a glance, as a hand-written SVG: grouped bars of throughput, p50 and p99 per
 * scenario (bare proxy vs each gateway mapping), one column per connection count, with the
 * issue's targets drawn as dashed marks; then the growth scenario; then the contention check.
 */

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const BARE_COLOR = "#9e9e9e";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

interface Bar {
  value: number;
  color: string;
  /** Measured while other processes loaded the machine. */
  disturbed?: boolean;
}

interface Mark {
  value: number;
  label: string;
}

interface Group {
  label: string;
  bars: Bar[];
  marks?: Mark[];
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A round axis: a step of 1, 2, 2.5 or 5 × 10^k, and 3 to 5 steps up to ≥ `value`. */
function niceScale(value: number): { max: number; step: number } {
  if (!(value > 0)) return { max: 1, step: 0.25 };
  const raw = value / 4;
  const exponent = Math.floor(Math.log10(raw));
  let step = 10 ** (exponent + 1);
  for (const factor of [1, 2, 2.5, 5]) {
    if (factor * 10 ** exponent >= raw) {
      step = factor * 10 ** exponent;
      break;
    }
  }
  return { max: step * Math.ceil(value / step), step };
}

function tick(value: number, step: number): string {
  const exponent = Math.floor(Math.log10(step));
  const decimals = Math.max(
    0,
    -exponent + (Number.isInteger(Math.round((step / 10 ** exponent) * 1000) / 1000) ? 0 : 1),
  );
  return value.toFixed(decimals);
}

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function panel(
  x: number,
  y: number,
  width: number,
  height: number,
  title: string,
  groups: Group[],
): string {
  const parts: string[] = [];
  const left = 46;
  const top = 24;
  const lines = Math.max(1, ...groups.map((g) => g.label.split("\n").length));
  const bottom = 10 + lines * 12;
  const plotW = width - left - 30;
  const plotH = height - top - bottom;
  const values = groups.flatMap((g) => [
    ...g.bars.map((b) => b.value),
    ...(g.marks ?? []).map((m) => m.value),
  ]);
  const { max, step } = niceScale(Math.max(0, ...values.filter(Number.isFinite)) * 1.1);
  const py = (v: number) => y + top + plotH - (Math.max(0, v) / max) * plotH;
  parts.push(
    `<text x="${x + left}" y="${y + 14}" font-size="13" font-weight="bold">${esc(title)}</text>`,
  );
  for (let i = 0; i * step <= max * 1.0001; i++) {
    const v = i * step;
    const gy = py(v);
    parts.push(
      `<line x1="${x + left}" x2="${x + left + plotW}" y1="${gy}" y2="${gy}" stroke="#e0e0e0"/>`,
      `<text x="${x + left - 4}" y="${gy + 4}" font-size="10" text-anchor="end" fill="#555">${tick(v, step)}</text>`,
    );
  }
  const groupW = plotW / Math.max(1, groups.length);
  groups.forEach((group, gi) => {
    const gx = x + left + gi * groupW;
    const barW = Math.min(46, (groupW * 0.8) / Math.max(1, group.bars.length));
    const start = gx + (groupW - barW * group.bars.length) / 2;
    group.bars.forEach((bar, bi) => {
      const bx = start + bi * barW;
      const by = py(bar.value);
      if (Number.isFinite(bar.value)) {
        parts.push(
          `<rect x="${bx + 1}" y="${by}" width="${barW - 2}" height="${y + top + plotH - by}" fill="${bar.color}"/>`,
          `<text x="${bx + barW / 2}" y="${by - 3}" font-size="9.5" text-anchor="middle" stroke="#fff" stroke-width="3" paint-order="stroke">${formatValue(bar.value)}${bar.disturbed === true ? "*" : ""}</text>`,
        );
      }
    });
    for (const mark of group.marks ?? []) {
      const my = py(mark.value);
      const x1 = start - 4;
      const x2 = start + barW * group.bars.length + 4;
      parts.push(
        `<line x1="${x1}" x2="${x2}" y1="${my}" y2="${my}" stroke="#c62828" stroke-width="1.5" stroke-dasharray="5,3"/>`,
        `<text x="${x2 + 2}" y="${my + 3}" font-size="9" fill="#c62828">${esc(mark.label)}</text>`,
      );
    }
    parts.push(
      ...group.label
        .split("\n")
        .map(
          (line, li) =>
            `<text x="${gx + groupW / 2}" y="${y + top + plotH + 15 + li * 12}" font-size="${li === 0 ? 11 : 9.5}" fill="${li === 0 ? "#000" : "#555"}" text-anchor="middle">${esc(line)}</text>`,
        ),
    );
  });
  parts.push(
    `<line x1="${x + left}" x2="${x + left + plotW}" y1="${y + top + plotH}" y2="${y + top + plotH}" stroke="#333"/>`,
  );
  return parts.join("\n");
}

/** The chart for one run. */
export function renderChart(results: BenchResults): string {
  const { options } = results;
  const width = 1000;
  const colW = width / Math.max(1, options.connections.length);
  const panelH = 210;
  const targets = [
    { name: "bare proxy", shards: null as number | null, color: BARE_COLOR },
    ...options.shards.map((shards, i) => ({
      name: `gateway shards=${shards}${shards === 0 ? " (one object per key)" : ""}`,
      shards: shards as number | null,
      color: PALETTE[i % PALETTE.length] ?? "#000",
    })),
  ];
  const parts: string[] = [];
  let y = 0;
  const date = results.date.slice(0, 16).replace("T", " ");
  parts.push(
    `<text x="16" y="26" font-size="17" font-weight="bold">Idempotency gateway vs bare Worker proxy — ${esc(date)} UTC</text>`,
    `<text x="16" y="46" font-size="11.5" fill="#444">${esc(
      `${results.machine.nproc} cores, ${results.machine.memoryGiB} GiB, ${results.machine.cpuModel} · wrangler ${results.machine.wrangler} · origin ${options.latencyMs} ms · ${options.durationS} s per cell · ${results.gateway.source} ${results.gateway.commit}${results.gateway.dirty ? " (dirty)" : ""}`,
    )}</text>`,
  );
  // Legend.
  let lx = 16;
  for (const t of targets) {
    parts.push(
      `<rect x="${lx}" y="58" width="12" height="12" fill="${t.color}"/>`,
      `<text x="${lx + 16}" y="68" font-size="11.5">${esc(t.name)}</text>`,
    );
    lx += 28 + t.name.length * 6.6;
  }
  parts.push(
    `<line x1="${lx}" x2="${lx + 22}" y1="64" y2="64" stroke="#c62828" stroke-width="1.5" stroke-dasharray="5,3"/>`,
    `<text x="${lx + 26}" y="68" font-size="11.5" fill="#c62828">target (rps × bare, bare p50 + 2 ms, origin latency)</text>`,
  );
  y = 80;

  const cell = (scenario: Cell["scenario"], shards: number | null, connections: number) =>
    results.cells.find(
      (c) => c.scenario === scenario && c.shards === shards && c.connections === connections,
    );
  const high = Math.max(...options.connections);
  const low = Math.min(...options.connections);
  const disturbed = (c: Cell | undefined) => c !== undefined && c.foreignCpuPct > options.quietPct;
  const scenarios: { key: Cell["scenario"]; label: string }[] = [
    { key: "first", label: "unique-key first requests" },
    { key: "replay", label: "replays of warm keys" },
  ].filter((s) => results.cells.some((c) => c.scenario === s.key)) as {
    key: Cell["scenario"];
    label: string;
  }[];

  if (scenarios.length > 0) {
    const metrics: { key: "rps" | "p50" | "p99"; title: string }[] = [
      { key: "rps", title: "throughput (rps, higher is better)" },
      { key: "p50", title: "p50 latency (ms, lower is better)" },
      { key: "p99", title: "p99 latency (ms, lower is better)" },
    ];
    for (const metric of metrics) {
      options.connections.forEach((connections, ci) => {
        const groups: Group[] = scenarios.map((s) => {
          const bare = cell(s.key, null, connections);
          const marks: Mark[] = [];
          if (bare && metric.key === "rps" && connections === high) {
            const factor = s.key === "first" ? 0.7 : 1.3;
            marks.push({ value: bare.rps * factor, label: `${factor}×` });
          }
          if (bare && metric.key === "p50" && s.key === "first" && connections === low) {
            marks.push({ value: bare.p50 + 2, label: "+2 ms" });
          }
          if (metric.key === "p50" && s.key === "replay") {
            marks.push({ value: options.latencyMs, label: "origin" });
          }
          return {
            label: s.label,
            bars: targets.map((t) => ({
              value: cell(s.key, t.shards, connections)?.[metric.key] ?? Number.NaN,
              color: t.color,
              disturbed: disturbed(cell(s.key, t.shards, connections)),
            })),
            marks,
          };
        });
        parts.push(
          panel(
            ci * colW,
            y,
            colW,
            panelH,
            `${metric.title} — ${connections} connection${connections === 1 ? "" : "s"}`,
            groups,
          ),
        );
      });
      y += panelH + 10;
    }
  }

  if (results.growth.length > 0) {
    const gateways = targets.slice(1);
    const steps = [...new Set(results.growth.map((g) => g.step))].sort((a, b) => a - b);
    const keys = (n: number) => (n >= 1000 ? `${Math.round(n / 100) / 10}k` : String(n));
    /** The step, and the keys each mapping actually had stored where that differs. */
    const stepLabel = (step: number) => {
      const short = results.growth
        .filter((g) => g.step === step && step > 0 && g.storedKeys < step)
        .map((g) => `${g.target}: ${keys(g.storedKeys)}`);
      const head = step === 0 ? "warm keys only" : `${keys(step)} keys`;
      return short.length > 0 ? `${head}\n(${short.join(", ")})` : head;
    };
    const growthCell = (scenario: Cell["scenario"], shards: number | null, step: number) => {
      const stored = results.growth.find((g) => g.shards === shards && g.step === step);
      return results.cells.find(
        (c) =>
          c.scenario === scenario &&
          c.shards === shards &&
          c.connections === high &&
          c.storedKeys === stored?.storedKeys,
      );
    };
    const third = width / 3;
    const growthPanels: {
      title: string;
      value: (shards: number | null, step: number) => number;
      cell?: (shards: number | null, step: number) => Cell | undefined;
    }[] = [
      {
        title: `growth: first-request rps, c=${high}`,
        value: (shards, step) => growthCell("growth-first", shards, step)?.rps ?? Number.NaN,
        cell: (shards, step) => growthCell("growth-first", shards, step),
      },
      {
        title: `growth: replay rps, c=${high}`,
        value: (shards, step) => growthCell("growth-replay", shards, step)?.rps ?? Number.NaN,
        cell: (shards, step) => growthCell("growth-replay", shards, step),
      },
      {
        title: "growth: worker RSS (MiB), restarted",
        value: (shards, step) =>
          results.growth.find((g) => g.shards === shards && g.step === step)?.rssAfter.workerMiB ??
          Number.NaN,
      },
    ];
    growthPanels.forEach((p, pi) => {
      const groups: Group[] = steps.map((step) => ({
        label: stepLabel(step),
        bars: gateways.map((t) => ({
          value: p.value(t.shards, step),
          color: t.color,
          disturbed: disturbed(p.cell?.(t.shards, step)),
        })),
      }));
      parts.push(panel(pi * third, y, third, panelH, p.title, groups));
    });
    y += panelH + 10;
  }

  if (results.contention.length > 0) {
    parts.push(
      `<text x="16" y="${y + 16}" font-size="13" font-weight="bold">contention: ${options.contentionN} concurrent duplicates of one key, origin ${options.contentionLatencyMs} ms</text>`,
    );
    y += 22;
    for (const c of results.contention) {
      const ok = c.shards === null ? null : c.originCalls === 1 && c.identical === c.requests;
      const color = ok === null ? "#555" : ok ? "#2e7d32" : "#c62828";
      const verdict = ok === null ? "" : ok ? "  ✔" : "  ✘";
      parts.push(
        `<text x="28" y="${y + 14}" font-size="12" fill="${color}">${esc(
          `${c.target}: ${c.originCalls} origin call${c.originCalls === 1 ? "" : "s"}, ${c.identical}/${c.requests} identical answers, ${c.wallMs} ms${verdict}`,
        )}</text>`,
      );
      y += 18;
    }
  }
  // Ratio summary line: what the targets are about, in numbers.
  const ratios = options.shards
    .map((shards) => {
      const first = cell("first", shards, high);
      const replay = cell("replay", shards, high);
      const firstBare = first && bareFor(results, first);
      const replayBare = replay && bareFor(results, replay);
      if (!first || !firstBare || !replay || !replayBare) return null;
      return `shards=${shards}: first ${(first.rps / firstBare.rps).toFixed(2)}× bare, replay ${(replay.rps / replayBare.rps).toFixed(2)}× bare (c=${high})`;
    })
    .filter((line): line is string => line !== null);
  if (ratios.length > 0) {
    parts.push(
      `<text x="16" y="${y + 20}" font-size="12" fill="#333">${esc(ratios.join(" · "))}</text>`,
    );
    y += 26;
  }
  if (results.cells.some(disturbed)) {
    parts.push(
      `<text x="16" y="${y + 18}" font-size="11" fill="#555">* measured while processes outside the benchmark used more than ${options.quietPct}% of the machine's CPU (after ${options.retries} retries)</text>`,
    );
    y += 22;
  }
  const height = Math.ceil(y + 12);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
