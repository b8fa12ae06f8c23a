// The SQL of a scheduler shard's own SQLite (durable-objects/scheduler.ts and, for outside
// effects, workers/scheduler/effects.ts decide when each runs, inside the shard's transactions):
// the tables, run records, wheel rows and multi-row job inserts.
//   jobs     definition (schedule, action, missed-run policy), state: active | paused | done
//   wheel    pending occurrences (job, scheduled time) in the bucket of their tick; the bucket of
//            a run in flight or waiting for a slot is moved later (a lease), never its time
//   runs     one row per (job, scheduled time): the idempotency record of a run, and its history
//   effects  what the `record` action does (one row per run; benchmarks count duplicates here)
import type { JobDefinition } from "../../schema/scheduler.ts";
import { countRunChange, RUN_METRICS_SCHEMA } from "./run-metrics.ts";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT, def TEXT NOT NULL, state TEXT NOT NULL,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_tenant_idx ON jobs (tenant_id, id);
CREATE TABLE IF NOT EXISTS wheel (
  job_id TEXT NOT NULL, scheduled_at INTEGER NOT NULL, bucket INTEGER NOT NULL, manual INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (job_id, scheduled_at));
CREATE INDEX IF NOT EXISTS wheel_bucket_idx ON wheel (bucket);
CREATE TABLE IF NOT EXISTS runs (
  job_id TEXT NOT NULL, scheduled_at INTEGER NOT NULL, state TEXT NOT NULL, fired_at INTEGER,
  finished_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0, manual INTEGER NOT NULL DEFAULT 0, detail TEXT,
  PRIMARY KEY (job_id, scheduled_at));
CREATE TABLE IF NOT EXISTS effects (job_id TEXT NOT NULL, scheduled_at INTEGER NOT NULL, fired_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS effects_job_idx ON effects (job_id);
${RUN_METRICS_SCHEMA}`;

// SQLite bound parameters per statement (Cloudflare: at most 100).
export const MAX_PARAMS = 100;

export interface PlacedJob {
  id: string;
  tenantId: string;
  def: JobDefinition;
  // First occurrence; null: nothing to run (the job is done at once).
  next: number | null;
}

// Every change of a run record goes through here, and so do the shard's run counters
// (run-metrics.ts): callers run it inside their transaction, so record and counters agree.
export function upsertRun(sql: SqlStorage, jobId: string, scheduledAt: number, state: string, firedAt: number | null, finishedAt: number | null, attempts: number, manual: boolean, detail: string | null): void {
  const prev = sql
    .exec<{ state: string; attempts: number; fired_at: number | null }>("SELECT state, attempts, fired_at FROM runs WHERE job_id = ? AND scheduled_at = ?", jobId, scheduledAt)
    .toArray()[0];
  countRunChange(sql, prev, { state, attempts, firedAt, scheduledAt });
  sql.exec(
    `INSERT INTO runs (job_id, scheduled_at, state, fired_at, finished_at, attempts, manual, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (job_id, scheduled_at) DO UPDATE SET state = excluded.state, fired_at = COALESCE(runs.fired_at, excluded.fired_at),
       finished_at = excluded.finished_at, attempts = excluded.attempts, detail = excluded.detail`,
    jobId,
    scheduledAt,
    state,
    firedAt,
    finishedAt,
    attempts,
    manual ? 1 : 0,
    detail,
  );
}

export function putWheel(sql: SqlStorage, jobId: string, scheduledAt: number, bucket: number, manual: boolean): void {
  sql.exec("INSERT OR IGNORE INTO wheel (job_id, scheduled_at, bucket, manual) VALUES (?, ?, ?, ?)", jobId, scheduledAt, bucket, manual ? 1 : 0);
}

// The rows of those ids that exist already (a create delivered twice).
export function existingJobs(sql: SqlStorage, ids: string[]): Record<string, SqlStorageValue>[] {
  const rows: Record<string, SqlStorageValue>[] = [];
  for (let i = 0; i < ids.length; i += MAX_PARAMS) {
    const chunk = ids.slice(i, i + MAX_PARAMS);
    rows.push(...sql.exec(`SELECT * FROM jobs WHERE id IN (${chunk.map(() => "?").join(", ")})`, ...chunk).toArray());
  }
  return rows;
}

// Multi-row inserts of new jobs and their first occurrences, within the bound-parameter limit.
export function insertJobs(sql: SqlStorage, placed: PlacedJob[], now: number, bucketOf: (t: number) => number): void {
  const jobCols = 7;
  const perJobStmt = Math.floor(MAX_PARAMS / jobCols);
  for (let i = 0; i < placed.length; i += perJobStmt) {
    const chunk = placed.slice(i, i + perJobStmt);
    const params: SqlStorageValue[] = [];
    for (const j of chunk) params.push(j.id, j.tenantId, j.def.name ?? null, JSON.stringify(j.def), j.next === null ? "done" : "active", now, now);
    sql.exec(`INSERT INTO jobs (id, tenant_id, name, def, state, created_at, updated_at) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}`, ...params);
  }
  const wheel = placed.filter((j) => j.next !== null);
  const perWheelStmt = Math.floor(MAX_PARAMS / 3);
  for (let i = 0; i < wheel.length; i += perWheelStmt) {
    const chunk = wheel.slice(i, i + perWheelStmt);
    const params: SqlStorageValue[] = [];
    for (const j of chunk) params.push(j.id, j.next as number, bucketOf(j.next as number));
    sql.exec(`INSERT INTO wheel (job_id, scheduled_at, bucket) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`, ...params);
  }
}
