// An outside effect of a scheduler shard (reminder, heartbeat, webhook) from launch to outcome,
// and the advance of a settled occurrence to the job's next one. The shard
// (durable-objects/scheduler.ts) decides which due row gets here and when; this starts the effect
// if the in-flight limits admit it (its run recorded as `started` and its wheel row leased, in
// one transaction, first), bounds it by the action deadline, and settles it on its own: the
// outcome and the advance in one transaction, then the freed slot handed to a waiting run.
import type { JobDefinition } from "../../schema/scheduler.ts";
import { sendAudit } from "../audit/event.ts";
import type { Env } from "../env.ts";
import { runAction, type ActionOutcome } from "./actions.ts";
import { runKey, withDeadline, type InflightEffects } from "./inflight.ts";
import { putWheel, upsertRun } from "./store.ts";
import { nextOccurrence, retryDelayMs, type SchedulerSettings } from "./timing.ts";

// An outside effect in flight holds its wheel row this long beyond the action deadline; if the
// isolate dies meanwhile, the run comes due again after it and is retried with the same key.
const LEASE_MARGIN_MS = 30_000;
// A due outside effect over the in-flight limits leaves the due range for this long, so the drain
// goes on to other rows and never spins on it; a freed slot brings it back sooner.
const DEFER_MS = 1_000;

// The shard as this module sees it: its storage, settings, effects in flight, its buckets (the
// shard's own tick phase) and its alarm (moved earlier only, never later).
export interface ShardHost {
  readonly env: Env;
  readonly ctx: DurableObjectState;
  readonly sql: SqlStorage;
  readonly settings: SchedulerSettings;
  readonly inflight: InflightEffects;
  bucketOf(dueAt: number): number;
  armAtMost(at: number): Promise<void>;
}

// One due occurrence of a job with an outside action: `anchor` is the job's created_at (the
// schedule's anchor); a manual run puts no next occurrence on the wheel.
export interface Occurrence {
  jobId: string;
  tenantId: string;
  scheduledAt: number;
  def: JobDefinition;
  anchor: number;
  manual: boolean;
}

// The wheel row of a run in flight moves past the action deadline plus a margin.
export function lease(h: ShardHost, jobId: string, scheduledAt: number, now: number): void {
  const until = now + h.settings.actionTimeoutMs + LEASE_MARGIN_MS;
  h.sql.exec("UPDATE wheel SET bucket = ? WHERE job_id = ? AND scheduled_at = ?", h.bucketOf(until), jobId, scheduledAt);
}

// The outside effect of a due occurrence, as its `attempt`: started if the in-flight limits admit
// it, after its run was recorded as started (and its wheel row leased); it settles later on its
// own. Otherwise it waits for a slot.
export function launchEffect(h: ShardHost, occ: Occurrence, attempt: number, now: number): void {
  if (!h.inflight.admits(occ.tenantId)) {
    // Over the shard's or this tenant's in-flight limit: not started, not recorded; it waits
    // in its tenant's line for a freed slot (or, after a restart, for its deferred bucket).
    h.inflight.wait(occ.tenantId, { jobId: occ.jobId, scheduledAt: occ.scheduledAt });
    h.sql.exec("UPDATE wheel SET bucket = ? WHERE job_id = ? AND scheduled_at = ?", h.bucketOf(now + DEFER_MS), occ.jobId, occ.scheduledAt);
    return;
  }
  h.ctx.storage.transactionSync(() => {
    upsertRun(h.sql, occ.jobId, occ.scheduledAt, "started", now, null, attempt, occ.manual, null);
    lease(h, occ.jobId, occ.scheduledAt, now);
  });
  startEffect(h, occ, attempt);
}

// Runs one outside effect, bounded by the action deadline, and records its outcome when it
// settles. Nobody awaits it but the runtime (waitUntil).
function startEffect(h: ShardHost, occ: Occurrence, attempt: number): void {
  const key = runKey(occ.jobId, occ.scheduledAt);
  const action = occ.def.action as Exclude<JobDefinition["action"], { kind: "record" }>;
  const timeoutMs = h.settings.actionTimeoutMs;
  const token = h.inflight.start(key, occ.tenantId);
  const done = (async () => {
    let outcome: ActionOutcome;
    try {
      outcome = await withDeadline(
        timeoutMs,
        (signal) =>
          runAction(h.env, action, {
            jobId: occ.jobId,
            tenantId: occ.tenantId,
            scheduledAt: occ.scheduledAt,
            attempt,
            waitUntil: (p) => h.ctx.waitUntil(p),
            signal,
            deadlineAt: Date.now() + timeoutMs,
          }),
        () => ({ ok: false, retryable: true, error: `action timed out after ${timeoutMs} ms (SCHEDULER_ACTION_TIMEOUT_MS)` }),
      );
    } catch (err) {
      outcome = { ok: false, retryable: true, error: String(err).slice(0, 300) };
    }
    try {
      settle(h, occ, attempt, outcome);
    } finally {
      h.inflight.finish(key, token);
    }
    // The freed slot goes to runs that wait for one: they are due again now.
    const now = Date.now();
    for (const w of h.inflight.takeNext()) {
      h.sql.exec("UPDATE wheel SET bucket = ? WHERE job_id = ? AND scheduled_at = ? AND bucket > ?", now, w.jobId, w.scheduledAt, now);
    }
    // The settled run may have put a retry or the next occurrence on the wheel.
    const next = h.sql.exec<{ b: number | null }>("SELECT MIN(bucket) AS b FROM wheel").one().b;
    if (next !== null) await h.armAtMost(Math.max(next, Date.now()));
  })();
  h.ctx.waitUntil(
    done.catch((err) => console.error(JSON.stringify({ level: "error", msg: "scheduler: settling a run failed (its lease brings it back)", job: occ.jobId, error: String(err) }))),
  );
}

function settle(h: ShardHost, occ: Occurrence, attempt: number, outcome: ActionOutcome): void {
  const { jobId, scheduledAt, def, anchor, manual } = occ;
  const now = Date.now();
  const recorded = h.ctx.storage.transactionSync((): "ok" | "failed" | "dead" | null => {
    // Only the attempt the run is at may settle it: the job was deleted (no run), or a later
    // attempt owns it (this one outlived its lease).
    const run = h.sql.exec<{ state: string; attempts: number }>("SELECT state, attempts FROM runs WHERE job_id = ? AND scheduled_at = ?", jobId, scheduledAt).toArray()[0];
    if (!run || run.state !== "started" || run.attempts !== attempt) return null;
    // Paused meanwhile: the outcome is still recorded, nothing is rescheduled.
    const stillThere = h.sql.exec("SELECT 1 FROM wheel WHERE job_id = ? AND scheduled_at = ?", jobId, scheduledAt).toArray().length > 0;
    if (outcome.ok) {
      upsertRun(h.sql, jobId, scheduledAt, "ok", null, now, attempt, manual, outcome.detail);
      if (stillThere) advance(h, jobId, def, scheduledAt, anchor, manual, now);
      return "ok";
    }
    if (outcome.retryable && attempt < def.max_attempts) {
      upsertRun(h.sql, jobId, scheduledAt, "failed", null, now, attempt, manual, outcome.error);
      const retryAt = now + retryDelayMs(h.settings.retryBaseMs, attempt);
      if (stillThere) h.sql.exec("UPDATE wheel SET bucket = ? WHERE job_id = ? AND scheduled_at = ?", h.bucketOf(retryAt), jobId, scheduledAt);
      return "failed";
    }
    // Dead-lettered: the run keeps its error; the job goes on with its next occurrence.
    upsertRun(h.sql, jobId, scheduledAt, "dead", null, now, attempt, manual, outcome.error);
    if (stillThere) advance(h, jobId, def, scheduledAt, anchor, manual, now);
    return "dead";
  });
  if (recorded !== null) auditRun(h, occ, attempt, recorded, outcome, now);
}

// One data-plane audit event per settled attempt (workers/audit/event.ts): the outcome as the
// run history records it (a `record` job's run too: the shard settles it in place). The error is the action's own summary (the receiver's status, the
// deadline), bounded; a reminder's session key is never in it.
export function auditRun(h: ShardHost, occ: Occurrence, attempt: number, outcome: "ok" | "failed" | "dead", result: ActionOutcome, at: number): void {
  sendAudit(h.env, {
    tenantId: occ.tenantId,
    actor: "scheduler",
    action: "job.run",
    target: `job:${occ.jobId}`,
    at,
    metadata: {
      job_id: occ.jobId,
      action_kind: occ.def.action.kind,
      scheduled_at: occ.scheduledAt,
      attempt,
      manual: occ.manual,
      outcome,
      error: result.ok ? null : result.error.slice(0, 300),
    },
  });
}

// The occurrence at `scheduledAt` is settled: its wheel row goes, and a scheduled (not manual)
// run puts the job's next occurrence in its place.
export function advance(h: ShardHost, jobId: string, def: JobDefinition, scheduledAt: number, anchor: number, manual: boolean, now: number): void {
  h.sql.exec("DELETE FROM wheel WHERE job_id = ? AND scheduled_at = ?", jobId, scheduledAt);
  if (manual) return;
  scheduleAfter(h, jobId, def, scheduledAt, anchor, now);
}

// The job's next occurrence after `after` goes on the wheel; none left: the job is done.
export function scheduleAfter(h: ShardHost, jobId: string, def: JobDefinition, after: number, anchor: number, now: number): void {
  const next = nextOccurrence(def.schedule, after, anchor);
  if (next === null) h.sql.exec("UPDATE jobs SET state = 'done', updated_at = ? WHERE id = ? AND state = 'active'", now, jobId);
  else putWheel(h.sql, jobId, next, h.bucketOf(next), false);
}
