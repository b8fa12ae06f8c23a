// A scheduler shard's own counters for GET /metrics (workers/metrics/scheduler.ts reads them over
// RPC): runs by outcome and how late runs started, kept in the shard's SQLite beside the runs
// table and written in the same transaction as the run record, so they survive restarts, count
// each outcome once however often an alarm repeats, and never go down (the runs table itself is
// pruned after 14 days, so it cannot serve as a counter).
export const RUN_METRICS_SCHEMA = `
CREATE TABLE IF NOT EXISTS run_metrics (name TEXT PRIMARY KEY, value REAL NOT NULL);
`;

// Outcomes counted: a run's end (ok, dead), a failed attempt that will be retried (failed), a
// run not made because its tenant was not live (skipped), occurrences passed over by the
// missed-run policy after an outage (missed).
export const RUN_OUTCOMES = ["ok", "failed", "dead", "skipped", "missed"] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

// Lag histogram bounds, milliseconds (exposed in seconds).
export const LAG_BUCKETS_MS = [100, 500, 1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000] as const;

export interface RunMetrics {
  runs: Record<RunOutcome, number>;
  lag: { count: number; sumMs: number; maxMs: number; buckets: number[] };
  // Occurrences whose time has come and that have not started: on the wheel at or before now
  // (not taken by the alarm yet) or waiting for an in-flight slot.
  due: number;
  inflight: number;
}

function bump(sql: SqlStorage, entries: [string, number][]): void {
  if (entries.length === 0) return;
  sql.exec(
    `INSERT INTO run_metrics (name, value) VALUES ${entries.map(() => "(?, ?)").join(", ")} ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
    ...entries.flat(),
  );
}

export function countOutcome(sql: SqlStorage, outcome: RunOutcome, n = 1): void {
  if (n > 0) bump(sql, [[`runs:${outcome}`, n]]);
}

// A run started `lagMs` after its scheduled time (once per run: its first start).
export function countLag(sql: SqlStorage, lagMs: number): void {
  const lag = Math.max(0, lagMs);
  const entries: [string, number][] = [
    ["lag_count", 1],
    ["lag_sum_ms", lag],
  ];
  for (const le of LAG_BUCKETS_MS) if (lag <= le) entries.push([`lag_le:${le}`, 1]);
  bump(sql, entries);
  sql.exec("INSERT INTO run_metrics (name, value) VALUES ('lag_max_ms', ?) ON CONFLICT (name) DO UPDATE SET value = MAX(value, excluded.value)", lag);
}

// What one upsert of a run record means for the counters: an outcome when the run reaches a
// state (or attempt) it was not in, a lag when it first gets a start time.
export function countRunChange(
  sql: SqlStorage,
  prev: { state: string; attempts: number; fired_at: number | null } | undefined,
  next: { state: string; attempts: number; firedAt: number | null; scheduledAt: number },
): void {
  if ((RUN_OUTCOMES as readonly string[]).includes(next.state) && (!prev || prev.state !== next.state || prev.attempts !== next.attempts)) {
    countOutcome(sql, next.state as RunOutcome);
  }
  if (next.firedAt !== null && (!prev || prev.fired_at === null)) countLag(sql, next.firedAt - next.scheduledAt);
}

export function readRunMetrics(sql: SqlStorage, now: number, waiting: number, inflight: number): RunMetrics {
  const values = new Map(sql.exec<{ name: string; value: number }>("SELECT name, value FROM run_metrics").toArray().map((r) => [r.name, r.value]));
  const get = (name: string) => values.get(name) ?? 0;
  const backlog = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM wheel WHERE bucket <= ? AND scheduled_at <= ?", now, now).one().n;
  return {
    runs: Object.fromEntries(RUN_OUTCOMES.map((o) => [o, get(`runs:${o}`)])) as Record<RunOutcome, number>,
    lag: { count: get("lag_count"), sumMs: get("lag_sum_ms"), maxMs: get("lag_max_ms"), buckets: LAG_BUCKETS_MS.map((le) => get(`lag_le:${le}`)) },
    due: backlog + waiting,
    inflight,
  };
}
