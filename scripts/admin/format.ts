// Readable output without a dependency: aligned tables for lists, key: value blocks for one
// object, and a line diff for router configs. --json bypasses all of it (the API's body as sent).

const MAX_CELL = 60;

function cell(value: unknown, truncate: boolean): string {
  let text: string;
  if (value === null || value === undefined) text = "-";
  else if (typeof value === "object") text = JSON.stringify(value);
  else text = String(value);
  // One line per row: a newline in a prompt or an error would break the columns.
  text = text.replaceAll("\r", " ").replaceAll("\n", " ");
  return truncate && text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text;
}

// Columns: the ones asked for, else every key of the first row whose values are not objects.
export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return "(none)";
  const first = rows[0] as Record<string, unknown>;
  // Asked-for columns that no row has (a usage report's ungrouped dimensions) are left out.
  const cols = columns?.filter((c) => rows.some((r) => c in r)) ?? Object.keys(first).filter((k) => first[k] === null || typeof first[k] !== "object");
  const cells = rows.map((r) => cols.map((c) => cell(r[c], true)));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: string[]) => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] as number))).join("  ");
  return [line(cols.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n");
}

export function keyValues(object: Record<string, unknown>): string {
  const keys = Object.keys(object);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${`${k}:`.padEnd(width + 1)} ${cell(object[k], false)}`).join("\n");
}

// JSON with keys in a stable order, so that two documents diff by content, not by key order.
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

const MAX_DIFF_LINES = 20_000;
const CONTEXT = 3;

// A unified-style line diff (longest common subsequence; router configs are at most a few
// thousand lines). Empty when the texts are equal.
export function lineDiff(a: string, b: string, labels: [string, string]): string {
  const x = a.split("\n");
  const y = b.split("\n");
  if (x.length + y.length > MAX_DIFF_LINES) throw new Error(`too large to diff (${x.length + y.length} lines)`);
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: the LCS length of x[i..] and y[j..], in one flat array.
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = x[i] === y[j] ? (lcs[(i + 1) * (m + 1) + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * (m + 1) + j] as number, lcs[i * (m + 1) + j + 1] as number);
    }
  }
  const ops: { op: " " | "-" | "+"; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ op: " ", text: x[i++] as string });
      j++;
    } else if (j < m && (i >= n || (lcs[i * (m + 1) + j + 1] as number) >= (lcs[(i + 1) * (m + 1) + j] as number))) ops.push({ op: "+", text: y[j++] as string });
    else ops.push({ op: "-", text: x[i++] as string });
  }
  if (ops.every((o) => o.op === " ")) return "";
  // Keep the changed lines and CONTEXT lines around each; "..." marks what is left out.
  const keep = ops.map(() => false);
  ops.forEach((o, k) => {
    if (o.op === " ") return;
    for (let d = Math.max(0, k - CONTEXT); d <= Math.min(ops.length - 1, k + CONTEXT); d++) keep[d] = true;
  });
  const out = [`--- ${labels[0]}`, `+++ ${labels[1]}`];
  let skipped = false;
  ops.forEach((o, k) => {
    if (!keep[k]) {
      if (!skipped) out.push("...");
      skipped = true;
      return;
    }
    skipped = false;
    out.push(`${o.op} ${o.text}`);
  });
  return out.join("\n");
}
