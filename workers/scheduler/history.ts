// What a scheduler shard shows about its jobs, read from its own SQLite (durable-objects/
// scheduler.ts owns the tables and every write, with workers/scheduler/effects.ts for outside
// effects): a job's view with its next fire time, its run history, and what a tenant's `record`
// jobs did (the benchmark's counters).
import type { JobDefinition } from "../../schema/scheduler.ts";

export interface JobView {
  id: string;
  tenant_id: string;
  name: string | null;
  state: "active" | "paused" | "done";
  // null only for a definition that could not be read.
  schedule: JobDefinition["schedule"] | null;
  // Secret references stay (they are names); secret values are never stored here.
  action: JobDefinition["action"] | null;
  missed: JobDefinition["missed"] | null;
  max_attempts: number | null;
  next_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface RunView {
  scheduled_at: number;
  fired_at: number | null;
  finished_at: number | null;
  lag_ms: number | null;
  state: "started" | "ok" | "failed" | "dead" | "skipped";
  attempts: number;
  manual: boolean;
  detail: string | null;
}

export interface RecordStats {
  effects: number;
  runs: number;
  duplicated: number;
  pending: number;
  lags?: number[];
}

type Row = Record<string, SqlStorageValue>;

export function jobView(sql: SqlStorage, row: Row): JobView {
  // A definition that cannot be read (a poison job) still lists, with what is left of it.
  let def: Partial<JobDefinition> = {};
  try {
    def = JSON.parse(row.def as string) as JobDefinition;
  } catch {
    def = {};
  }
  const next = sql.exec<{ t: number | null }>("SELECT MIN(scheduled_at) AS t FROM wheel WHERE job_id = ? AND manual = 0", row.id).one().t;
  return {
    id: row.id as string,
    tenant_id: row.tenant_id as string,
    name: (row.name as string | null) ?? null,
    state: row.state as JobView["state"],
    schedule: def.schedule ?? null,
    action: def.action ?? null,
    missed: def.missed ?? null,
    max_attempts: def.max_attempts ?? null,
    next_at: row.state === "active" ? next : null,
    created_at: row.created_at as number,
    updated_at: row.updated_at as number,
  };
}

// Newest first.
export function runHistory(sql: SqlStorage, jobId: string, limit: number): RunView[] {
  return sql
    .exec<{ scheduled_at: number; fired_at: number | null; finished_at: number | null; state: string; attempts: number; manual: number; detail: string | null }>(
      "SELECT scheduled_at, fired_at, finished_at, state, attempts, manual, detail FROM runs WHERE job_id = ? ORDER BY scheduled_at DESC LIMIT ?",
      jobId,
      limit,
    )
    .toArray()
    .map((r) => ({
      scheduled_at: r.scheduled_at,
      fired_at: r.fired_at,
      finished_at: r.finished_at,
      lag_ms: r.fired_at === null ? null : r.fired_at - r.scheduled_at,
      state: r.state as RunView["state"],
      attempts: r.attempts,
      manual: r.manual === 1,
      detail: r.detail,
    }));
}

// What the `record` jobs of a tenant did: effects, duplicates (more than one effect for one
// (job, scheduled time)), occurrences still pending, and optionally every lag.
export function recordStats(sql: SqlStorage, tenant: string, withLags: boolean): RecordStats {
  const agg = sql
    .exec<{ effects: number; runs: number }>(
      `SELECT COUNT(*) AS effects, COUNT(DISTINCT e.job_id || ':' || e.scheduled_at) AS runs
       FROM effects e JOIN jobs j ON j.id = e.job_id WHERE j.tenant_id = ?`,
      tenant,
    )
    .one();
  const pending = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM wheel w JOIN jobs j ON j.id = w.job_id WHERE j.tenant_id = ?", tenant).one().n;
  const stats: RecordStats = { effects: agg.effects, runs: agg.runs, duplicated: agg.effects - agg.runs, pending };
  if (withLags) {
    stats.lags = sql
      .exec<{ lag: number }>("SELECT e.fired_at - e.scheduled_at AS lag FROM effects e JOIN jobs j ON j.id = e.job_id WHERE j.tenant_id = ?", tenant)
      .toArray()
      .map((r) => r.lag);
  }
  return stats;
}
