// GET /admin/usage: usage reports (requests, errors, tokens, cost, cache hits, latency, TTFT) per
// time bucket, grouped and filtered, as JSON or CSV. Read from the minute/hour/day rollups
// (workers/usage/rollups.ts), which the usage consumer writes in the same transaction as the raw
// events. Raw usage_events are read only for the part of a minute or hour report that lies
// before that granularity's rollup retention (workers/usage/retention.ts): those rows may be
// gone, the raw events (kept longer by default) may not. Day rollups are kept forever.
//
// Bounds: at most MAX_BUCKETS buckets per report, at most RAW_MAX_SPAN_MS of it from raw events,
// at most MAX_SCANNED_ROWS stored rows aggregated, at most MAX_LIMIT rows per page (keyset
// cursor), filters and cursors bounded in length.
import type { Context } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { instant } from "../http/instant.ts";
import { parseOr400 } from "../http/validation.ts";
import { rollupRetentionMs } from "../usage/retention.ts";
import { histogramQuantile } from "../usage/quantile.ts";
import { LATENCY_BUCKETS_MS } from "../../schema/usage.ts";
import { tenantForRead } from "./access.ts";
import { toCsv, type Cell } from "./csv.ts";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const WIDTH = { minute: MINUTE, hour: HOUR, day: DAY } as const;
type Granularity = keyof typeof WIDTH;
// Coarsest first: the default granularity is the coarsest whose buckets start at `from` and end at `to`.
const COARSEST_FIRST: Granularity[] = ["day", "hour", "minute"];

export const MAX_BUCKETS = 1440;
export const RAW_MAX_SPAN_MS = DAY;
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 10_000;

// group_by names and the rollup column each one reads (its output field too).
const GROUPS = {
  tenant: "tenant_id",
  key: "key_id",
  agent: "agent_id",
  model: "model",
  provider: "provider",
  route: "route",
  error_class: "error_class",
} as const;
type Group = keyof typeof GROUPS;
const MAX_GROUPS = 3;

const groupList = z
  .string()
  .max(100)
  .transform((s, ctx) => {
    const names = s.split(",").filter((n) => n !== "");
    const bad = names.find((n) => !(n in GROUPS));
    if (bad !== undefined) ctx.addIssue({ code: "custom", message: `unknown group '${bad.slice(0, 40)}'; one of ${Object.keys(GROUPS).join(", ")}` });
    else if (names.length > MAX_GROUPS) ctx.addIssue({ code: "custom", message: `at most ${MAX_GROUPS} groups` });
    else if (new Set(names).size !== names.length) ctx.addIssue({ code: "custom", message: "a group is named twice" });
    return names as Group[];
  });

const idFilter = z.string().min(1).max(256);
const nameFilter = z.string().min(1).max(512);

export const usageQuery = z.strictObject({
  from: instant.optional(),
  to: instant.optional(),
  granularity: z.enum(["minute", "hour", "day"]).optional(),
  group_by: groupList.optional(),
  tenant_id: z.string().min(1).max(64).optional(),
  key_id: idFilter.optional(),
  agent_id: idFilter.optional(),
  model: nameFilter.optional(),
  provider: nameFilter.optional(),
  route: nameFilter.optional(),
  status: z.enum(["ok", "error"]).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional(),
  cursor: z.string().max(2048).regex(/^[\w-]*$/, "a cursor from next_cursor").optional(),
  format: z.enum(["json", "csv"]).optional(),
});

// The keyset cursor: the last row's bucket and group values, with the shape it belongs to.
const cursorShape = z.strictObject({
  g: z.enum(["minute", "hour", "day"]),
  by: z.array(z.string().max(20)).max(MAX_GROUPS),
  b: z.number().int().min(0),
  k: z.array(z.string().max(512)).max(MAX_GROUPS),
});
export type Cursor = z.infer<typeof cursorShape>;

function encodeCursor(c: Cursor): string {
  const bytes = new TextEncoder().encode(JSON.stringify(c));
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function decodeCursor(text: string, g: Granularity, by: Group[]): Cursor {
  let parsed: unknown;
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    parsed = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
  } catch {
    parsed = null;
  }
  const c = cursorShape.safeParse(parsed);
  if (!c.success || c.data.g !== g || c.data.by.join(",") !== by.join(",") || c.data.k.length !== by.length) {
    throw new ApiError(400, "invalid_value", "Invalid value for 'cursor': not a cursor of this report (same granularity and group_by).", { param: "cursor" });
  }
  return c.data;
}

const floorTo = (ms: number, w: number) => Math.floor(ms / w) * w;
const ceilTo = (ms: number, w: number) => Math.ceil(ms / w) * w;

export interface Plan {
  granularity: Granularity;
  from: number;
  to: number;
  // [from, to) read from raw events (before the rollup cutoff) and from rollups; either may be empty.
  raw: [number, number] | null;
  rollups: [number, number] | null;
}

// The report's granularity and span: an explicit granularity widens from/to to whole buckets;
// without one, the coarsest granularity whose buckets fit from and to exactly (minute, widened,
// when neither does). Default span: the 24 whole hours up to the current hour's end.
export function planReport(q: { from?: number; to?: number; granularity?: Granularity }, keepMs: (g: Granularity) => number | null, now: number): Plan {
  const to0 = q.to ?? ceilTo(now, HOUR);
  const from0 = q.from ?? to0 - DAY;
  if (from0 >= to0) throw new ApiError(400, "invalid_value", "Invalid value for 'from': must be before 'to'.", { param: "from" });
  const granularity = q.granularity ?? COARSEST_FIRST.find((g) => from0 % WIDTH[g] === 0 && to0 % WIDTH[g] === 0) ?? "minute";
  const w = WIDTH[granularity];
  const from = floorTo(from0, w);
  const to = ceilTo(to0, w);
  const buckets = (to - from) / w;
  if (buckets > MAX_BUCKETS) {
    const hint = granularity === "day" ? "shorten the span" : "pass a coarser granularity, or from/to on whole hours or days";
    throw new ApiError(400, "too_many_buckets", `This report would have ${buckets} ${granularity} buckets; at most ${MAX_BUCKETS}: ${hint}.`, { param: q.granularity ? "granularity" : "from" });
  }
  // Rows of buckets that start at or after the cutoff are certainly still kept; earlier ones may
  // have been purged, so that part comes from the raw events.
  const keep = keepMs(granularity);
  const cutoff = keep === null ? 0 : ceilTo(now - keep, w);
  const raw: [number, number] | null = from < cutoff ? [from, Math.min(to, cutoff)] : null;
  const rollups: [number, number] | null = to > cutoff ? [Math.max(from, cutoff), to] : null;
  if (raw && raw[1] - raw[0] > RAW_MAX_SPAN_MS) {
    throw new ApiError(
      400,
      "span_not_in_rollups",
      `${granularity} rollups are kept for ${Math.round((keep as number) / HOUR)} h; before that at most ${RAW_MAX_SPAN_MS / HOUR} h of a report can be read from raw events. Use a coarser granularity for older spans.`,
      { param: "granularity" },
    );
  }
  return { granularity, from, to, raw, rollups };
}

// Summed measures, per source: the rollup column, or the raw event's expression for one event.
const MEASURES: [string, string, string][] = [
  ["requests", "requests", "1"],
  ["status_4xx", "status_4xx", "CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END"],
  ["status_5xx", "status_5xx", "CASE WHEN status >= 500 THEN 1 ELSE 0 END"],
  ["input_tokens", "input_tokens", "input_tokens"],
  ["output_tokens", "output_tokens", "output_tokens"],
  ["cost_micro_usd", "cost_micro_usd", "cost_micro_usd"],
  ["cache_hits", "cache_hits", "CASE WHEN cache = 'HIT' THEN 1 ELSE 0 END"],
  ["latency_sum_ms", "latency_sum_ms", "latency_ms"],
  ["ttft_count", "ttft_count", "CASE WHEN ttft_ms IS NULL THEN 0 ELSE 1 END"],
  ["ttft_sum_ms", "ttft_sum_ms", "COALESCE(ttft_ms, 0)"],
];
// The latency histogram's cumulative counts, summed like the other measures (only for p50/p99).
for (const ms of LATENCY_BUCKETS_MS) MEASURES.push([`latency_le_${ms}`, `latency_le_${ms}`, `CASE WHEN latency_ms <= ${ms} THEN 1 ELSE 0 END`]);
const DIMS = ["tenant_id", "key_id", "agent_id", "model", "provider", "route", "error_class"] as const;
const RAW_NULLABLE = new Set<string>(["key_id", "agent_id", "provider", "error_class"]);
const FILTERS = ["key_id", "agent_id", "model", "provider", "route"] as const;

// The index range a source reads: its span, and the tenant when the report has one (rollups:
// usage_rollups_tenant_bucket_idx, or the primary key without a tenant; raw events:
// usage_events_tenant_at_idx, or usage_events_at_idx). The other filters are checked row by row.
function rangeWhere(kind: "rollups" | "raw", g: Granularity, tenantId: string | undefined, params: unknown[], span: [number, number]): string[] {
  const where = kind === "raw" ? ["at >= ?", "at < ?"] : [`granularity = '${g}'`, "bucket_start >= ?", "bucket_start < ?"];
  params.push(span[0], span[1]);
  if (tenantId !== undefined) {
    where.push("tenant_id = ?");
    params.push(tenantId);
  }
  return where;
}

// The rows of a source's index range, one column: what the bound counts.
export function scanSql(kind: "rollups" | "raw", g: Granularity, f: Filters, params: unknown[], span: [number, number]): string {
  return `SELECT 1 FROM ${kind === "raw" ? "usage_events" : "usage_rollups"} WHERE ${rangeWhere(kind, g, f.tenantId, params, span).join(" AND ")}`;
}

// One source's rows with the same columns: b (bucket start), the dimensions ('' for none) and the measures.
export function sourceSql(kind: "rollups" | "raw", g: Granularity, f: Filters, params: unknown[], span: [number, number]): string {
  const raw = kind === "raw";
  const dim = (d: string) => (raw && RAW_NULLABLE.has(d) ? `COALESCE(${d}, '')` : d);
  const where = rangeWhere(kind, g, f.tenantId, params, span);
  for (const k of FILTERS) {
    const v = f.values[k];
    if (v === undefined) continue;
    where.push(`${k} = ?`);
    params.push(v);
  }
  if (f.status) where.push(`${dim("error_class")} ${f.status === "ok" ? "=" : "!="} ''`);
  const bucket = raw ? `(at / ${WIDTH[g]}) * ${WIDTH[g]}` : "bucket_start";
  const cols = [`${bucket} AS b`, ...DIMS.map((d) => `${dim(d)} AS ${d}`), ...MEASURES.map(([name, col, expr]) => `${raw ? expr : col} AS ${name}`)];
  return `SELECT ${cols.join(", ")} FROM ${raw ? "usage_events" : "usage_rollups"} WHERE ${where.join(" AND ")}`;
}

export interface ReportRow {
  b: number;
  [k: string]: string | number;
}

// Rollup rows and raw events one page of a report may read (a page reads from its cursor's
// bucket to the report's end): past this the report is refused rather than left to run into D1's
// 30 s query limit. Counted in the index range the report reads (span and tenant), before the
// other filters: a selective filter does not make the read smaller, and so the count itself
// reads at most the bound + 1 index entries.
export const MAX_SCANNED_ROWS = 200_000;

export interface Filters {
  tenantId: string | undefined;
  values: Partial<Record<(typeof FILTERS)[number], string>>;
  status: "ok" | "error" | undefined;
}

// The report's rows (at most `take`), after the cursor, in (bucket, group values) order.
export async function reportRows(
  db: D1Database,
  plan: Plan,
  filters: Filters,
  cols: string[],
  cursor: Cursor | null,
  take: number,
  maxScanned = MAX_SCANNED_ROWS,
): Promise<ReportRow[]> {
  const params: unknown[] = [];
  const parts: string[] = [];
  const scanParams: unknown[] = [];
  const scans: string[] = [];
  // A cursor's bucket also narrows what each source reads.
  const narrow = (span: [number, number]): [number, number] | null => {
    const s: [number, number] = [Math.max(span[0], cursor?.b ?? 0), span[1]];
    return s[0] < s[1] ? s : null;
  };
  const rawSpan = plan.raw && narrow(plan.raw);
  const rollupSpan = plan.rollups && narrow(plan.rollups);
  for (const [kind, span] of [["raw", rawSpan], ["rollups", rollupSpan]] as const) {
    if (!span) continue;
    parts.push(sourceSql(kind, plan.granularity, filters, params, span));
    scans.push(scanSql(kind, plan.granularity, filters, scanParams, span));
  }
  if (parts.length === 0) return [];
  const source = `(${parts.join(" UNION ALL ")})`;

  // One bounded count per page (the LIMIT ends the compound scan at the bound).
  const counted = await db.prepare(`SELECT COUNT(*) AS n FROM (${scans.join(" UNION ALL ")} LIMIT ?)`).bind(...scanParams, maxScanned + 1).first<{ n: number }>();
  if ((counted?.n ?? 0) > maxScanned) {
    throw new ApiError(400, "report_too_large", `This report would read more than ${maxScanned} stored rows: narrow it (tenant_id, a filter, a shorter span) or use a coarser granularity.`);
  }

  const keys = ["b", ...cols];
  let after = "";
  const all = [...params];
  if (cursor) {
    after = `WHERE (${keys.join(", ")}) > (${keys.map(() => "?").join(", ")})`;
    all.push(cursor.b, ...cursor.k);
  }
  const sums = [...MEASURES.map(([name]) => `SUM(${name}) AS ${name}`), "SUM(CASE WHEN error_class != '' THEN requests ELSE 0 END) AS errors"];
  const sql = `SELECT ${[...keys, ...sums].join(", ")} FROM ${source} ${after} GROUP BY ${keys.join(", ")} ORDER BY ${keys.join(", ")} LIMIT ?`;
  all.push(take);
  return (await db.prepare(sql).bind(...all).all<ReportRow>()).results;
}

export async function usageReport(c: Context<AppEnv>): Promise<Response> {
  const q = parseOr400(usageQuery, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  const plan = planReport(q, (g) => rollupRetentionMs(c.env, g), Date.now());
  const by = q.group_by ?? [];
  const cols = by.map((g) => GROUPS[g]);
  const cursor = q.cursor ? decodeCursor(q.cursor, plan.granularity, by) : null;
  const limit = q.limit ?? DEFAULT_LIMIT;
  const filters: Filters = { tenantId, values: { key_id: q.key_id, agent_id: q.agent_id, model: q.model, provider: q.provider, route: q.route }, status: q.status };
  let rows = await reportRows(c.env.DB, plan, filters, cols, cursor, limit + 1);
  const more = rows.length > limit;
  if (more) rows = rows.slice(0, limit);
  const last = rows[rows.length - 1];
  const nextCursor = more && last ? encodeCursor({ g: plan.granularity, by, b: last.b, k: cols.map((col) => String(last[col])) }) : null;

  const data = rows.map((r) => reportRow(r, cols));
  const meta = {
    from: new Date(plan.from).toISOString(),
    to: new Date(plan.to).toISOString(),
    granularity: plan.granularity,
    group_by: by,
    sources: {
      events: plan.raw && { from: new Date(plan.raw[0]).toISOString(), to: new Date(plan.raw[1]).toISOString() },
      rollups: plan.rollups && { from: new Date(plan.rollups[0]).toISOString(), to: new Date(plan.rollups[1]).toISOString() },
    },
  };
  if (q.format === "csv") {
    const header = ["bucket_start", ...cols, ...OUTPUT_MEASURES];
    const body = toCsv(header, data.map((d) => header.map((h) => d[h] ?? null)));
    const name = `edgeclaw-usage-${meta.from.slice(0, 16).replaceAll(":", "")}-${plan.granularity}.csv`;
    return new Response(body, {
      headers: {
        "content-type": "text/csv; charset=utf-8; header=present",
        "content-disposition": `attachment; filename="${name}"`,
        ...(nextCursor ? { "x-edgeclaw-next-cursor": nextCursor } : {}),
      },
    });
  }
  return c.json({ ...meta, data, next_cursor: nextCursor });
}

const OUTPUT_MEASURES = [
  "requests",
  "errors",
  "status_4xx",
  "status_5xx",
  "input_tokens",
  "output_tokens",
  "cost_micro_usd",
  "cost_usd",
  "cache_hits",
  "latency_sum_ms",
  "latency_avg_ms",
  "latency_p50_ms",
  "latency_p99_ms",
  "ttft_count",
  "ttft_sum_ms",
  "ttft_avg_ms",
];

function reportRow(r: ReportRow, cols: string[]): Record<string, Cell> {
  const n = (k: string) => Number(r[k] ?? 0);
  const out: Record<string, Cell> = { bucket_start: new Date(r.b).toISOString() };
  // '' is how the rollups store "none" (no key, no agent, no provider reached, no error).
  for (const col of cols) out[col] = r[col] === "" ? null : (r[col] as string);
  const requests = n("requests");
  const ttftCount = n("ttft_count");
  const values: Record<string, Cell> = {
    requests,
    errors: n("errors"),
    status_4xx: n("status_4xx"),
    status_5xx: n("status_5xx"),
    input_tokens: n("input_tokens"),
    output_tokens: n("output_tokens"),
    cost_micro_usd: n("cost_micro_usd"),
    cost_usd: n("cost_micro_usd") / 1e6,
    cache_hits: n("cache_hits"),
    latency_sum_ms: n("latency_sum_ms"),
    latency_avg_ms: requests > 0 ? Math.round(n("latency_sum_ms") / requests) : null,
    latency_p50_ms: latencyQuantile(0.5, n, requests),
    latency_p99_ms: latencyQuantile(0.99, n, requests),
    ttft_count: ttftCount,
    ttft_sum_ms: n("ttft_sum_ms"),
    ttft_avg_ms: ttftCount > 0 ? Math.round(n("ttft_sum_ms") / ttftCount) : null,
  };
  for (const k of OUTPUT_MEASURES) out[k] = values[k] ?? null;
  return out;
}

// Estimated from the summed histogram (workers/usage/quantile.ts), rounded to whole ms.
function latencyQuantile(q: number, n: (k: string) => number, requests: number): number | null {
  const value = histogramQuantile(q, LATENCY_BUCKETS_MS, LATENCY_BUCKETS_MS.map((ms) => n(`latency_le_${ms}`)), requests);
  return value === null ? null : Math.round(value);
}
