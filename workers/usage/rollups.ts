// Usage rollups (schema usage_rollups): the consumer adds each NEWLY inserted usage event to its
// minute, hour and day bucket in the same D1 batch (one transaction) as the raw INSERT OR IGNORE.
// The rollups are computed in SQL from usage_events rows of this delivery that still have
// rolled_up = 0, and the same batch then sets rolled_up = 1 on them. A redelivered event was
// either not inserted before (the earlier batch rolled back as a whole: counted now, once) or is
// already rolled_up = 1 (skipped), so the rollups count every event exactly once.
import { LATENCY_BUCKETS_MS } from "../../schema/usage.ts";

export const GRANULARITIES = [
  { name: "minute", ms: 60_000 },
  { name: "hour", ms: 3_600_000 },
  { name: "day", ms: 86_400_000 },
] as const;

// D1 binds at most 100 parameters per statement: ids go in chunks of this many (the granularity
// and bucket width are inlined constants, not parameters).
export const IDS_PER_STATEMENT = 100;

const DIMENSIONS = ["tenant_id", "key_id", "agent_id", "model", "provider", "route", "error_class"] as const;
const NULLABLE = new Set<string>(["key_id", "agent_id", "provider", "error_class"]);

function bucketSums(prefix: string, column: string): { cols: string[]; exprs: string[] } {
  return {
    cols: LATENCY_BUCKETS_MS.map((ms) => `${prefix}_le_${ms}`),
    exprs: LATENCY_BUCKETS_MS.map((ms) => `SUM(CASE WHEN ${column} <= ${ms} THEN 1 ELSE 0 END)`),
  };
}

const latency = bucketSums("latency", "latency_ms");
const ttft = bucketSums("ttft", "ttft_ms");

// Summed columns and their SQL over the grouped usage_events rows.
const SUMS: [string, string][] = [
  ["requests", "COUNT(*)"],
  ["status_4xx", "SUM(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END)"],
  ["status_5xx", "SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END)"],
  ["input_tokens", "SUM(input_tokens)"],
  ["output_tokens", "SUM(output_tokens)"],
  ["cost_micro_usd", "SUM(cost_micro_usd)"],
  ["cache_hits", "SUM(CASE WHEN cache = 'HIT' THEN 1 ELSE 0 END)"],
  ["latency_sum_ms", "SUM(latency_ms)"],
  ...latency.cols.map((c, i) => [c, latency.exprs[i]!] as [string, string]),
  ["ttft_count", "COUNT(ttft_ms)"],
  ["ttft_sum_ms", "COALESCE(SUM(ttft_ms), 0)"],
  ...ttft.cols.map((c, i) => [c, ttft.exprs[i]!] as [string, string]),
];

function rollupSql(granularity: string, widthMs: number, ids: number): string {
  const dims = DIMENSIONS.map((d) => (NULLABLE.has(d) ? `COALESCE(${d}, '')` : d));
  const placeholders = Array.from({ length: ids }, () => "?").join(", ");
  const groupBy = Array.from({ length: DIMENSIONS.length + 2 }, (_, i) => String(i + 1)).join(", ");
  return (
    `INSERT INTO usage_rollups (granularity, bucket_start, ${DIMENSIONS.join(", ")}, ${SUMS.map(([c]) => c).join(", ")}) ` +
    `SELECT '${granularity}', (at / ${widthMs}) * ${widthMs}, ${dims.join(", ")}, ${SUMS.map(([, e]) => e).join(", ")} ` +
    `FROM usage_events WHERE rolled_up = 0 AND id IN (${placeholders}) GROUP BY ${groupBy} ` +
    `ON CONFLICT (granularity, bucket_start, ${DIMENSIONS.join(", ")}) DO UPDATE SET ` +
    SUMS.map(([c]) => `${c} = ${c} + excluded.${c}`).join(", ")
  );
}

function markSql(ids: number): string {
  return `UPDATE usage_events SET rolled_up = 1 WHERE rolled_up = 0 AND id IN (${Array.from({ length: ids }, () => "?").join(", ")})`;
}

// The statements that roll up this delivery's events, to run AFTER its inserts in the same batch.
export function rollupStatements(db: D1Database, eventIds: readonly string[]): D1PreparedStatement[] {
  const ids = [...new Set(eventIds)];
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
    const chunk = ids.slice(i, i + IDS_PER_STATEMENT);
    for (const g of GRANULARITIES) out.push(db.prepare(rollupSql(g.name, g.ms, chunk.length)).bind(...chunk));
    out.push(db.prepare(markSql(chunk.length)).bind(...chunk));
  }
  return out;
}
