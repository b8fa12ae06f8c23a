// Scheduler series for GET /metrics, read from the scheduler shards' own counters
// (workers/scheduler/run-metrics.ts) over RPC. The shards are deployment-wide (jobs of every
// tenant), so no tenant label. A scrape asks every shard, SHARD_CONCURRENCY at a time, each with
// SHARD_TIMEOUT_MS, and all of them within SCRAPE_BUDGET_MS (up to 1024 shards: without a total
// budget a run of slow shards would hold the scrape for minutes). A shard that is slow or
// unreachable, or not asked before the budget ran out, is left out of this scrape and counted in
// edgeclaw_metrics_scrape_errors{source="scheduler"}, so it cannot hang the scrape.
import type { Env } from "../env.ts";
import { objectNamed } from "../regions/objects.ts";
import { withDeadline } from "../scheduler/inflight.ts";
import { LAG_BUCKETS_MS, RUN_OUTCOMES, type RunMetrics } from "../scheduler/run-metrics.ts";
import { schedulerSettings } from "../scheduler/timing.ts";
import type { Exposition } from "./exposition.ts";

export const SHARD_CONCURRENCY = 8;
export const SHARD_TIMEOUT_MS = 2_000;
// Under Prometheus' default scrape_timeout (10 s), leaving time for the D1 reads.
export const SCRAPE_BUDGET_MS = 8_000;

export interface ShardScrape {
  shards: { shard: number; m: RunMetrics }[];
  errors: number;
}

// `ask` is the RPC (tests pass one that hangs or throws for chosen shards).
export async function scrapeShards(
  env: Env,
  ask: (shard: number) => Promise<RunMetrics> = (i) => objectNamed(env, env.SCHEDULER, `shard:${i}`).metrics(),
  timeoutMs = SHARD_TIMEOUT_MS,
  budgetMs = SCRAPE_BUDGET_MS,
): Promise<ShardScrape> {
  const count = schedulerSettings(env).shards;
  const deadline = Date.now() + budgetMs;
  const shards: ShardScrape["shards"] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      const shard = next++;
      // A shard asked late gets only what is left of the budget.
      const ms = Math.min(timeoutMs, deadline - Date.now());
      try {
        // withDeadline drops the RPC's late answer or rejection (the RPC takes no signal).
        const m = await withDeadline(ms, () => ask(shard), () => null);
        if (m === null) throw new Error(`no answer in ${ms} ms`);
        shards.push({ shard, m });
      } catch (err) {
        errors++;
        console.warn(JSON.stringify({ level: "warn", msg: "metrics: scheduler shard skipped", shard, error: String(err).slice(0, 200) }));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(SHARD_CONCURRENCY, count) }, worker));
  // Shards never asked because the budget ran out count like failed ones.
  if (next < count) {
    errors += count - next;
    console.warn(JSON.stringify({ level: "warn", msg: "metrics: scheduler scrape budget spent", skipped: count - next, budgetMs }));
  }
  shards.sort((a, b) => a.shard - b.shard);
  return { shards, errors };
}

const LAG_SECONDS = LAG_BUCKETS_MS.map((ms) => ms / 1000);

export function renderScheduler(out: Exposition, s: ShardScrape): void {
  const name = "edgeclaw_scheduler_runs_total";
  out.family(name, "counter", "Scheduled job runs by outcome: ok, failed (an attempt that is retried), dead, skipped (tenant not live), missed (passed over after an outage).");
  for (const { shard, m } of s.shards) for (const outcome of RUN_OUTCOMES) out.sample(name, { shard: String(shard), outcome }, m.runs[outcome]);
  // One histogram over all shards: lag is a property of the deployment's alarms, and per-shard
  // buckets would multiply the series by the shard count.
  const cumulative = LAG_BUCKETS_MS.map((_, i) => s.shards.reduce((n, { m }) => n + (m.lag.buckets[i] ?? 0), 0));
  const count = s.shards.reduce((n, { m }) => n + m.lag.count, 0);
  const sum = s.shards.reduce((n, { m }) => n + m.lag.sumMs, 0) / 1000;
  out.family("edgeclaw_scheduler_lag_seconds", "histogram", "How late runs started after their scheduled time (first attempt of each run), all shards.");
  out.histogram("edgeclaw_scheduler_lag_seconds", {}, LAG_SECONDS, cumulative, sum, count);
  out.family("edgeclaw_scheduler_lag_max_seconds", "gauge", "The longest any run of the shard waited past its scheduled time to start, since the shard was created.");
  for (const { shard, m } of s.shards) out.sample("edgeclaw_scheduler_lag_max_seconds", { shard: String(shard) }, m.lag.maxMs / 1000);
  out.family("edgeclaw_scheduler_due_jobs", "gauge", "Occurrences whose time has come that have not started: due on the wheel, or waiting for an in-flight slot.");
  for (const { shard, m } of s.shards) out.sample("edgeclaw_scheduler_due_jobs", { shard: String(shard) }, m.due);
  out.family("edgeclaw_scheduler_inflight", "gauge", "Outside effects (webhooks, heartbeats, reminders) running now in the shard.");
  for (const { shard, m } of s.shards) out.sample("edgeclaw_scheduler_inflight", { shard: String(shard) }, m.inflight);
}
