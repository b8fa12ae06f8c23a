// SchedulerShard: one of N Durable Objects (named shard:<i>) that jobs are hashed to by id. It
// owns its jobs' definitions, their pending occurrences (the wheel) and their run history, in its
// own SQLite (tables in workers/scheduler/store.ts).
// Order and exactly-once:
//   The one alarm is set to the earliest bucket; create/trigger/resume move it earlier only when
//   they need to. The alarm drains due rows in bounded batches and re-arms at once if more remain.
//   A run is recorded (runs row) in the same transaction as a local effect, or as `started`,
//   with the wheel row leased, before an outside effect; so a repeated alarm finds the record and
//   makes no second effect, and a crash mid-effect is retried with the same idempotency key.
//   Overlapping alarm invocations share one drain.
// Slow actions hold nothing but themselves: the drain starts an outside effect and moves on; the
//   effect settles on its own (outcome and advance in one transaction), ends at the deployment's
//   action deadline at the latest, and at most SCHEDULER_MAX_INFLIGHT run at once per shard,
//   SCHEDULER_TENANT_INFLIGHT per tenant (workers/scheduler/inflight.ts); a due effect over a
//   limit waits on the wheel. A tenant that is not live (revoked, unknown) fires nothing: its
//   runs are recorded as skipped.
// The maths (buckets, occurrences, catch-up, backoff) lives in workers/scheduler/timing.ts; the
// actions in workers/scheduler/actions.ts; an outside effect's launch, deadline and settling, and
// the advance to a job's next occurrence, in workers/scheduler/effects.ts; the read-side views in
// workers/scheduler/history.ts.
import { DurableObject } from "cloudflare:workers";
import type { JobDefinition } from "../schema/scheduler.ts";
import { advance, auditRun, launchEffect, lease, scheduleAfter, type ShardHost } from "../workers/scheduler/effects.ts";
import { jobView, recordStats, runHistory, type JobView, type RecordStats, type RunView } from "../workers/scheduler/history.ts";
import { InflightEffects, runKey } from "../workers/scheduler/inflight.ts";
import { countOutcome, readRunMetrics, type RunMetrics } from "../workers/scheduler/run-metrics.ts";
import { existingJobs, insertJobs, putWheel, SCHEMA, upsertRun } from "../workers/scheduler/store.ts";
import { bucketOf, firstOccurrence, nextOccurrence, planCatchUp, schedulerSettings, shardName, tickPhase, type SchedulerSettings } from "../workers/scheduler/timing.ts";
import { isObjectNamed } from "../workers/regions/objects.ts";
import type { Env } from "../workers/env.ts";
import { tenantStatus, type TenantStatus } from "../workers/tenants/liveness.ts";

export type { JobView, RecordStats, RunView };

// Rows taken per batch, rows per alarm invocation, and wall time per invocation before the
// alarm re-arms itself (far under the 30 s CPU limit).
const BATCH = 200;
const MAX_PER_ALARM = 1_000;
const BUDGET_MS = 2_000;
// Run history is kept this long.
const RUN_RETENTION_MS = 14 * 86_400_000;

export interface NewJob {
  id: string;
  tenantId: string;
  def: JobDefinition;
}

interface DueRow {
  job_id: string;
  scheduled_at: number;
  manual: number;
  tenant_id: string | null;
  def: string | null;
  state: string | null;
  created_at: number | null;
}

type Row = Record<string, SqlStorageValue>;

export class SchedulerShard extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly settings: SchedulerSettings;
  // This shard's offset of its tick boundaries (timing.ts tickPhase): 0 for an object that is not
  // one of the SCHEDULER_SHARDS shards (tests reach shards under other names).
  private readonly phaseMs: number;
  private alarmAt: number | null | undefined;
  private draining: Promise<void> | null = null;
  private prunedAt = 0;
  private readonly inflight: InflightEffects;
  private readonly host: ShardHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.settings = schedulerSettings(env);
    this.inflight = new InflightEffects({ shard: this.settings.maxInflight, tenant: this.settings.maxInflightPerTenant });
    this.sql.exec(SCHEMA);
    let index = -1;
    for (let i = 0; i < this.settings.shards && index < 0; i++) if (isObjectNamed(env, env.SCHEDULER, shardName(i), ctx.id)) index = i;
    this.phaseMs = index < 0 ? 0 : tickPhase(index, this.settings.shards, this.settings.tickMs);
    this.host = {
      env,
      ctx,
      sql: this.sql,
      settings: this.settings,
      inflight: this.inflight,
      bucketOf: (t) => this.bucketOf(t),
      armAtMost: (at) => this.armAtMost(at),
    };
  }

  // ---- the alarm ------------------------------------------------------------------------------
  private async armAtMost(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  // The earliest non-empty bucket, or no alarm at all.
  private async rearm(): Promise<void> {
    const next = this.sql.exec<{ b: number | null }>("SELECT MIN(bucket) AS b FROM wheel").one().b;
    if (next === null) {
      if (this.alarmAt !== null) await this.ctx.storage.deleteAlarm();
      this.alarmAt = null;
      return;
    }
    const at = Math.max(next, Date.now());
    if (this.alarmAt === at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  async alarm(): Promise<void> {
    // The runtime may deliver an alarm again while one runs: both wait on the same drain.
    if (this.draining) return this.draining;
    this.alarmAt = undefined;
    this.draining = this.drain().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drain(): Promise<void> {
    const started = Date.now();
    let processed = 0;
    // Tenant liveness for this drain (cached per isolate by tenantStatus).
    const tenants = new Map<string, TenantStatus>();
    for (;;) {
      const now = Date.now();
      const due = this.sql
        .exec<DueRow & Row>(
          `SELECT w.job_id, w.scheduled_at, w.manual, j.tenant_id, j.def, j.state, j.created_at
           FROM wheel w LEFT JOIN jobs j ON j.id = w.job_id WHERE w.bucket <= ? ORDER BY w.bucket LIMIT ?`,
          now,
          BATCH,
        )
        .toArray();
      if (due.length === 0) break;
      // Look up tenants not seen yet, then read the batch again: an RPC may have changed the
      // wheel during the wait, and the batch is handled without a wait in between.
      const unseen = [...new Set(due.map((r) => r.tenant_id))].filter((t): t is string => t !== null && !tenants.has(t));
      if (unseen.length > 0) {
        const statuses = await Promise.all(unseen.map((t) => tenantStatus(this.env, t)));
        unseen.forEach((t, i) => tenants.set(t, statuses[i] as TenantStatus));
        continue;
      }
      // Outside effects are started here and settle on their own: nothing in this loop waits
      // for one, so a hanging endpoint delays no other job.
      for (const row of due) this.fire(row, now, tenants);
      processed += due.length;
      // A settled run may have put its next (already due) occurrence on the wheel: go on until
      // nothing is due or this invocation's budget is spent (then the alarm re-arms at once).
      if (processed >= MAX_PER_ALARM || Date.now() - started >= BUDGET_MS) break;
    }
    this.prune(Date.now());
    await this.rearm();
  }

  // One due wheel row. Whatever this job throws stops this job only (a poison job cannot stall
  // its shard): its run is dead-lettered and the job ends.
  private fire(row: DueRow, now: number, tenants: ReadonlyMap<string, TenantStatus>): void {
    try {
      this.fireRow(row, now, tenants);
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "scheduler: poison job stopped", job: row.job_id, error: String(err) }));
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM wheel WHERE job_id = ?", row.job_id);
        this.sql.exec("UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ?", now, row.job_id);
        upsertRun(this.sql, row.job_id, row.scheduled_at, "dead", now, now, 1, row.manual === 1, `job failed to run: ${String(err)}`.slice(0, 300));
      });
    }
  }

  // Local outcomes are written here; an outside effect is started after its run was recorded as
  // started (and its wheel row leased), and settles later on its own.
  private fireRow(row: DueRow, now: number, tenants: ReadonlyMap<string, TenantStatus>): void {
    const manual = row.manual === 1;
    if (row.def === null || row.tenant_id === null || (!manual && row.state !== "active")) {
      this.sql.exec("DELETE FROM wheel WHERE job_id = ? AND scheduled_at = ?", row.job_id, row.scheduled_at);
      return;
    }
    let def: JobDefinition;
    try {
      def = JSON.parse(row.def) as JobDefinition;
      if (typeof def?.schedule?.kind !== "string" || typeof def?.action?.kind !== "string") throw new Error("malformed job definition");
    } catch (err) {
      // A poison definition stops this job only.
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM wheel WHERE job_id = ?", row.job_id);
        this.sql.exec("UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ?", now, row.job_id);
        upsertRun(this.sql, row.job_id, row.scheduled_at, "dead", now, now, 1, manual, `unreadable job: ${String(err)}`.slice(0, 300));
      });
      return;
    }
    const anchor = row.created_at as number;
    this.inflight.unwait(row.tenant_id, runKey(row.job_id, row.scheduled_at));
    if (this.inflight.has(runKey(row.job_id, row.scheduled_at))) {
      // Its effect is still running in this isolate (the row came due again early): lease it
      // again rather than start the effect a second time.
      lease(this.host, row.job_id, row.scheduled_at, now);
      return;
    }
    const existing = this.sql
      .exec<{ state: string; attempts: number }>("SELECT state, attempts FROM runs WHERE job_id = ? AND scheduled_at = ?", row.job_id, row.scheduled_at)
      .toArray()[0];
    if (existing && (existing.state === "ok" || existing.state === "dead" || existing.state === "skipped")) {
      // Already settled (a repeated alarm, or a crash between the outcome and the advance).
      this.ctx.storage.transactionSync(() => advance(this.host, row.job_id, def, row.scheduled_at, anchor, manual, now));
      return;
    }
    const status = tenants.get(row.tenant_id) ?? "unknown";
    if (status !== "live") {
      // A revoked (or deleted) tenant fires nothing. The run says so; the job moves past now, so
      // the occurrences it misses meanwhile are not replayed if the tenant is restored.
      this.ctx.storage.transactionSync(() => {
        upsertRun(this.sql, row.job_id, row.scheduled_at, "skipped", null, now, existing?.attempts ?? 0, manual, `tenant ${status}: nothing was run`);
        this.sql.exec("DELETE FROM wheel WHERE job_id = ? AND scheduled_at = ?", row.job_id, row.scheduled_at);
        if (!manual) scheduleAfter(this.host, row.job_id, def, now, anchor, now);
      });
      return;
    }
    if (!manual && !existing) {
      let plan;
      try {
        plan = planCatchUp(def.schedule, def.missed, row.scheduled_at, now, anchor, this.settings.missedGraceMs);
      } catch (err) {
        plan = { run: row.scheduled_at, skipped: 0, lastSkipped: null };
        console.error(JSON.stringify({ level: "warn", msg: "scheduler: catch-up plan failed", job: row.job_id, error: String(err) }));
      }
      if (plan.run !== row.scheduled_at) {
        this.ctx.storage.transactionSync(() => {
          if (plan.lastSkipped !== null) {
            this.sql.exec(
              "INSERT OR IGNORE INTO runs (job_id, scheduled_at, state, fired_at, finished_at, attempts, manual, detail) VALUES (?, ?, 'skipped', NULL, ?, 0, 0, ?)",
              row.job_id,
              plan.lastSkipped,
              now,
              `${plan.skipped} missed occurrence(s) skipped (policy ${def.missed})`,
            );
          }
          countOutcome(this.sql, "missed", plan.skipped);
          this.sql.exec("DELETE FROM wheel WHERE job_id = ? AND scheduled_at = ?", row.job_id, row.scheduled_at);
          if (plan.run !== null) this.putWheel(row.job_id, plan.run, false);
          else scheduleAfter(this.host, row.job_id, def, now, anchor, now);
        });
        return;
      }
    }
    const attempt = (existing?.attempts ?? 0) + 1;
    if (def.action.kind === "record") {
      this.ctx.storage.transactionSync(() => {
        this.recordEffect(row.job_id, row.scheduled_at, now);
        upsertRun(this.sql, row.job_id, row.scheduled_at, "ok", now, now, attempt, manual, null);
        advance(this.host, row.job_id, def, row.scheduled_at, anchor, manual, now);
      });
      auditRun(this.host, { jobId: row.job_id, tenantId: row.tenant_id, scheduledAt: row.scheduled_at, def, anchor, manual }, attempt, "ok", { ok: true, detail: "recorded" }, now);
      return;
    }
    launchEffect(this.host, { jobId: row.job_id, tenantId: row.tenant_id, scheduledAt: row.scheduled_at, def, anchor, manual }, attempt, now);
  }

  // The `record` action's effect: a row per run, so duplicates would show.
  private recordEffect(jobId: string, scheduledAt: number, firedAt: number): void {
    this.sql.exec("INSERT INTO effects (job_id, scheduled_at, fired_at) VALUES (?, ?, ?)", jobId, scheduledAt, firedAt);
  }

  private bucketOf(dueAt: number): number {
    return bucketOf(dueAt, this.settings.tickMs, this.phaseMs);
  }

  private putWheel(jobId: string, scheduledAt: number, manual: boolean): void {
    putWheel(this.sql, jobId, scheduledAt, this.bucketOf(scheduledAt), manual);
  }

  // At most hourly: run history past retention.
  private prune(now: number): void {
    if (now - this.prunedAt < 3_600_000) return;
    this.prunedAt = now;
    this.sql.exec("DELETE FROM runs WHERE state != 'started' AND scheduled_at < ?", now - RUN_RETENTION_MS);
    this.sql.exec("DELETE FROM effects WHERE scheduled_at < ?", now - RUN_RETENTION_MS);
  }

  // ---- RPC: jobs ------------------------------------------------------------------------------
  // Creates the jobs, each with its first occurrence on the wheel, in one transaction of multi-row
  // inserts within the bound-parameter limit. Idempotent: an id that exists already (the same
  // create delivered twice) is left as it is and answered with its current next fire time.
  async create(jobs: NewJob[]): Promise<{ id: string; next_at: number | null }[]> {
    const now = Date.now();
    const existing = new Map(existingJobs(this.sql, jobs.map((j) => j.id)).map((row) => [row.id as string, jobView(this.sql, row).next_at]));
    const placed = jobs.filter((j) => !existing.has(j.id)).map((j) => ({ ...j, next: firstOccurrence(j.def.schedule, now) }));
    this.ctx.storage.transactionSync(() => insertJobs(this.sql, placed, now, (t) => this.bucketOf(t)));
    let earliest = Infinity;
    for (const j of placed) if (j.next !== null) earliest = Math.min(earliest, this.bucketOf(j.next));
    if (earliest !== Infinity) await this.armAtMost(earliest);
    const next = new Map(placed.map((j) => [j.id, j.next]));
    return jobs.map((j) => ({ id: j.id, next_at: next.get(j.id) ?? existing.get(j.id) ?? null }));
  }

  // `tenant` undefined: any tenant (the caller checked the token may see them all).
  async get(id: string, tenant?: string): Promise<JobView | null> {
    const row = this.sql.exec("SELECT * FROM jobs WHERE id = ?", id).toArray()[0];
    if (!row || (tenant !== undefined && row.tenant_id !== tenant)) return null;
    return jobView(this.sql, row);
  }

  async list(tenant: string | undefined, after: string, limit: number): Promise<JobView[]> {
    const rows =
      tenant === undefined
        ? this.sql.exec("SELECT * FROM jobs WHERE id > ? ORDER BY id LIMIT ?", after, limit).toArray()
        : this.sql.exec("SELECT * FROM jobs WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?", tenant, after, limit).toArray();
    return rows.map((r) => jobView(this.sql, r));
  }

  // Pause drops the pending occurrence; resume puts the next one after now on the wheel
  // (occurrences that fell in the pause are not run).
  async setPaused(id: string, tenant: string | undefined, paused: boolean): Promise<JobView | null> {
    const job = await this.get(id, tenant);
    if (!job) return null;
    const now = Date.now();
    if (paused && job.state === "active") {
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM wheel WHERE job_id = ? AND manual = 0", id);
        this.sql.exec("UPDATE jobs SET state = 'paused', updated_at = ? WHERE id = ?", now, id);
      });
    } else if (!paused && job.state === "paused") {
      const def = JSON.parse(this.sql.exec<{ def: string }>("SELECT def FROM jobs WHERE id = ?", id).one().def) as JobDefinition;
      const next = nextOccurrence(def.schedule, now, job.created_at);
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("UPDATE jobs SET state = ?, updated_at = ? WHERE id = ?", next === null ? "done" : "active", now, id);
        if (next !== null) this.putWheel(id, next, false);
      });
      if (next !== null) await this.armAtMost(this.bucketOf(next));
    }
    return this.get(id);
  }

  // A manual run now, beside the schedule (its run is keyed by the trigger time). The caller may
  // pick that time (the admin API records it in the audit row first): the same trigger delivered
  // twice finds its manual run and adds no second one.
  async trigger(id: string, tenant: string | undefined, requestedAt?: number): Promise<{ scheduled_at: number } | null> {
    const job = await this.get(id, tenant);
    if (!job) return null;
    let at = requestedAt ?? Date.now();
    if (requestedAt !== undefined) {
      const same =
        this.sql.exec("SELECT 1 FROM wheel WHERE job_id = ? AND scheduled_at = ? AND manual = 1", id, at).toArray().length > 0 ||
        this.sql.exec("SELECT 1 FROM runs WHERE job_id = ? AND scheduled_at = ? AND manual = 1", id, at).toArray().length > 0;
      if (same) return { scheduled_at: at };
    }
    while (this.sql.exec("SELECT 1 FROM wheel WHERE job_id = ? AND scheduled_at = ?", id, at).toArray().length > 0) at++;
    this.putWheel(id, at, true);
    await this.armAtMost(this.bucketOf(at));
    return { scheduled_at: at };
  }

  async remove(id: string, tenant: string | undefined): Promise<JobView | null> {
    const job = await this.get(id, tenant);
    if (!job) return null;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM wheel WHERE job_id = ?", id);
      this.sql.exec("DELETE FROM runs WHERE job_id = ?", id);
      this.sql.exec("DELETE FROM effects WHERE job_id = ?", id);
      this.sql.exec("DELETE FROM jobs WHERE id = ?", id);
    });
    return job;
  }

  async runs(id: string, tenant: string | undefined, limit: number): Promise<RunView[] | null> {
    if (!(await this.get(id, tenant))) return null;
    return runHistory(this.sql, id, limit);
  }

  // This shard's counters for GET /metrics (workers/metrics/scheduler.ts).
  async metrics(): Promise<RunMetrics> {
    const { running, waiting } = this.inflight.counts();
    return readRunMetrics(this.sql, Date.now(), waiting, running);
  }

  async recordStats(tenant: string, withLags: boolean): Promise<RecordStats> {
    return recordStats(this.sql, tenant, withLags);
  }
}
