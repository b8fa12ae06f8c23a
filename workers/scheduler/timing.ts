// Timing-wheel maths for the scheduler shards: which shard holds a job, which bucket a due time
// falls in, the next occurrence of a schedule, what to do with occurrences missed during an
// outage, and the retry backoff. Pure functions of their arguments (no clock reads).
import { Cron } from "croner";
import type { JobSchedule, MissedPolicy } from "../../schema/scheduler.ts";
import type { Env } from "../env.ts";

// A catch-up under the "all" policy runs at most this many missed occurrences.
export const MAX_CATCH_UP = 100;

export interface SchedulerSettings {
  shards: number;
  tickMs: number;
  // An occurrence later than this when its shard reaches it counts as missed (policy applies).
  missedGraceMs: number;
  retryBaseMs: number;
  // Longest an outside effect (webhook fetch, heartbeat model call, session notify) may run
  // before it is abandoned and counted as a retryable failure; a tenant cannot raise it.
  actionTimeoutMs: number;
  // Outside effects in flight at once per shard, and per tenant within a shard: one tenant's slow
  // actions can hold at most its own share, never the whole shard.
  maxInflight: number;
  maxInflightPerTenant: number;
}

export function schedulerSettings(env: Env): SchedulerSettings {
  return {
    shards: intVar(env.SCHEDULER_SHARDS, 16, 1, 1024),
    tickMs: intVar(env.SCHEDULER_TICK_MS, 100, 1, 60_000),
    missedGraceMs: intVar(env.SCHEDULER_MISSED_GRACE_MS, 30_000, 1_000, 86_400_000),
    retryBaseMs: intVar(env.SCHEDULER_RETRY_BASE_MS, 2_000, 1, 3_600_000),
    actionTimeoutMs: intVar(env.SCHEDULER_ACTION_TIMEOUT_MS, 30_000, 100, 300_000),
    maxInflight: intVar(env.SCHEDULER_MAX_INFLIGHT, 32, 1, 1_000),
    maxInflightPerTenant: intVar(env.SCHEDULER_TENANT_INFLIGHT, 4, 1, 1_000),
  };
}

function intVar(value: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

// FNV-1a over the id's UTF-16 code units: stable across isolates and deployments.
export function shardOf(jobId: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < jobId.length; i++) {
    h ^= jobId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

// A due time's bucket is the tick boundary at or after it: the shard's alarm wakes at bucket
// boundaries, so no job fires before its time and none later than one tick plus the work ahead.
// A shard's boundaries lie `phaseMs` (0 <= phase < tick) after the multiples of the tick.
export function bucketOf(dueAt: number, tickMs: number, phaseMs = 0): number {
  return Math.ceil((dueAt - phaseMs) / tickMs) * tickMs + phaseMs;
}

// Shard i of n has its tick boundaries i/n of a tick after shard 0's. With one phase for all, every
// shard's alarm woke at the same instant and the shards that share a host (all of them under
// `wrangler dev`, whose one workerd thread runs them in turn) waited for each other: each tick's
// last shard started after the others' drains and commits. Measured with 1M jobs
// (docs/scheduler.md "Benchmark"). An alarm still never wakes before its jobs' time.
export function tickPhase(index: number, shards: number, tickMs: number): number {
  return Math.floor((index * tickMs) / shards);
}

// The name a shard's Durable Object is reached under (workers/admin/jobs.ts and
// workers/metrics/scheduler.ts build the same names).
export function shardName(index: number): string {
  return `shard:${index}`;
}

// The first occurrence strictly after `after`; null when the schedule has none left. `anchor` is
// the job's creation time (the default start of an interval).
export function nextOccurrence(schedule: JobSchedule, after: number, anchor: number): number | null {
  switch (schedule.kind) {
    case "once": {
      const at = schedule.at ?? anchor + (schedule.delay_ms ?? 0);
      return at > after ? at : null;
    }
    case "interval": {
      const start = schedule.start_at ?? anchor + schedule.every_ms;
      if (start > after) return start;
      return start + (Math.floor((after - start) / schedule.every_ms) + 1) * schedule.every_ms;
    }
    case "cron": {
      const next = new Cron(schedule.expr, { timezone: schedule.tz, paused: true }).nextRun(new Date(after));
      return next ? next.getTime() : null;
    }
  }
}

// The first occurrence of a new job (at or after `now` for a one-shot: "at" in the past fires at
// once rather than never).
export function firstOccurrence(schedule: JobSchedule, now: number): number | null {
  if (schedule.kind === "once") return Math.max(schedule.at ?? now + (schedule.delay_ms ?? 0), now);
  return nextOccurrence(schedule, now, now);
}

export interface CatchUpPlan {
  // The occurrence to run now (its scheduled time keys the run); null: none (skip everything).
  run: number | null;
  // Occurrences passed over without running, and the latest of them (for the run history).
  skipped: number;
  lastSkipped: number | null;
}

// `due` is the occurrence the shard reached at `now`. If it is not missed (within the grace),
// it simply runs. Otherwise the policy decides among `due` and the later occurrences up to now.
export function planCatchUp(schedule: JobSchedule, policy: MissedPolicy, due: number, now: number, anchor: number, graceMs: number): CatchUpPlan {
  if (now - due <= graceMs) return { run: due, skipped: 0, lastSkipped: null };
  if (policy === "all") {
    // Run `due`; the later missed ones come due right after it, one by one. Past the bound, the
    // oldest are skipped so that at most MAX_CATCH_UP run.
    const recent: number[] = [due];
    let skipped = 0;
    let lastSkipped: number | null = null;
    for (let t = nextOccurrence(schedule, due, anchor); t !== null && t <= now; t = nextOccurrence(schedule, t, anchor)) {
      recent.push(t);
      if (recent.length > MAX_CATCH_UP) {
        lastSkipped = recent.shift() as number;
        skipped++;
      }
      if (skipped > 1_000_000) break;
    }
    return { run: recent[0] as number, skipped, lastSkipped };
  }
  // once / skip: find the latest occurrence at or before now.
  let latest = due;
  let count = 1;
  for (let t = nextOccurrence(schedule, due, anchor); t !== null && t <= now; t = nextOccurrence(schedule, t, anchor)) {
    latest = t;
    count++;
    if (schedule.kind === "interval") {
      // Arithmetic instead of stepping through a long outage one interval at a time.
      const steps = Math.floor((now - latest) / schedule.every_ms);
      latest += steps * schedule.every_ms;
      count += steps;
      break;
    }
    if (count > 100_000) break;
  }
  if (policy === "once") return { run: latest, skipped: count - 1, lastSkipped: count > 1 ? previousOf(schedule, latest, due, anchor) : null };
  return { run: null, skipped: count, lastSkipped: latest };
}

// The occurrence just before `t` (at least `floor`); only for run-history labels.
function previousOf(schedule: JobSchedule, t: number, floor: number, anchor: number): number {
  if (schedule.kind === "interval") return Math.max(floor, t - schedule.every_ms);
  let prev = floor;
  for (let x = nextOccurrence(schedule, floor, anchor); x !== null && x < t; x = nextOccurrence(schedule, x, anchor)) prev = x;
  return prev;
}

// Retry n (1-based) waits base * 2^(n-1), capped at an hour, with up to 10% jitter.
export function retryDelayMs(baseMs: number, attempt: number, random = Math.random()): number {
  const raw = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 3_600_000);
  return Math.round(raw * (1 + 0.1 * random));
}

// Whether `at` falls inside [start, end) of the local clock in tz; end < start spans midnight.
export function withinActiveHours(at: number, hours: { start: string; end: string; tz: string }): boolean {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: hours.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(at));
  const h = Number(parts.find((p) => p.type === "hour")?.value ?? 0);
  const m = Number(parts.find((p) => p.type === "minute")?.value ?? 0);
  const minute = h * 60 + m;
  const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5));
  const start = toMin(hours.start);
  const end = toMin(hours.end);
  if (start === end) return true;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}
