// Scheduler series in GET /metrics: jobs created through the admin jobs API run on their shards'
// real alarms; the scrape fans out to every shard and counts their runs by outcome and how late
// they started. A shard's counters count each run once however often its alarm is delivered, the
// due gauge sees occurrences whose time has come, and a shard that hangs or fails is skipped and
// counted instead of hanging the scrape.
import { env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { renderMetrics } from "../../workers/metrics/index.ts";
import { scrapeShards } from "../../workers/metrics/scheduler.ts";
import type { RunMetrics } from "../../workers/scheduler/run-metrics.ts";
import { schedulerSettings } from "../../workers/scheduler/timing.ts";
import { admin, expectStatus, makeTenant, type TestTenant } from "../gateway/helpers.ts";
import { liveTenant, newJob, testShard } from "../scheduler/helpers.ts";
import { parsePrometheus, value } from "./prometheus.ts";
import { scrape, total, until } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LAG = "edgeclaw_scheduler_lag_seconds";

describe("scheduler series", () => {
  it("counts the runs of jobs made through the admin API, with their lag, from every shard", { timeout: 60_000 }, async () => {
    const before = await scrape();
    const shards = schedulerSettings(env).shards;
    const jobs = Array.from({ length: 6 }, (_, i) => ({ name: `metrics-${i}`, schedule: { kind: "once", delay_ms: 0 }, action: { kind: "record" } }));
    const created = expectStatus(await admin(t.owner, "POST", "/jobs/bulk", { tenant_id: t.tenantId, jobs }), 201).body;
    const ids = created.ids as string[];
    expect(ids).toHaveLength(6);
    for (const id of ids) {
      const runs = await until(
        () => admin(t.owner, "GET", `/jobs/${id}/runs`),
        (a) => a.body.data?.[0]?.state === "ok",
      );
      expect(runs.body.data[0].state).toBe("ok");
    }
    const after = await scrape();
    expect(after.get("edgeclaw_scheduler_runs_total")?.type).toBe("counter");
    expect(total(after, "edgeclaw_scheduler_runs_total", { outcome: "ok" }) - total(before, "edgeclaw_scheduler_runs_total", { outcome: "ok" })).toBe(6);
    expect(value(after, LAG, {}, `${LAG}_count`)! - value(before, LAG, {}, `${LAG}_count`)!).toBe(6);
    expect(value(after, LAG, { le: "+Inf" }, `${LAG}_bucket`)).toBe(value(after, LAG, {}, `${LAG}_count`));
    expect(value(after, LAG, {}, `${LAG}_sum`)!).toBeGreaterThanOrEqual(value(before, LAG, {}, `${LAG}_sum`)!);
    // Every shard answered: one due gauge each, and no scrape error.
    expect(after.get("edgeclaw_scheduler_due_jobs")?.samples.map((s) => s.labels.shard).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: shards }, (_, i) => String(i)),
    );
    expect(value(after, "edgeclaw_metrics_scrape_errors", { source: "scheduler" })).toBe(0);
    // Deployment-wide: no tenant label on scheduler series.
    expect(after.get("edgeclaw_scheduler_runs_total")?.samples.every((s) => !("tenant" in s.labels))).toBe(true);
  });

  it("a shard counts a run once whatever the alarm does, and sees what is due but not started", async () => {
    const tenant = await liveTenant(t.owner);
    const stub = testShard();
    await runInDurableObject(stub, async (instance, state) => {
      // Due in 1 s; the alarm is taken away long before, and this test delivers it itself, late:
      // meanwhile the run is due and has not started.
      await instance.create([newJob(tenant, { schedule: { kind: "once", delay_ms: 1_000 }, action: { kind: "record" } })]);
      await state.storage.deleteAlarm();
      expect((await instance.metrics()).due).toBe(0);
      await sleep(1_300);
      const due = await instance.metrics();
      expect(due).toMatchObject({ due: 1, inflight: 0, runs: { ok: 0 } });
      await Promise.all([instance.alarm(), instance.alarm()]);
      await instance.alarm();
      const m: RunMetrics = await instance.metrics();
      expect(m.due).toBe(0);
      expect(m.runs).toEqual({ ok: 1, failed: 0, dead: 0, skipped: 0, missed: 0 });
      expect(m.lag.count).toBe(1);
      // It started at least the 300 ms this test held it back after its time.
      expect(m.lag.sumMs).toBeGreaterThanOrEqual(200);
      expect(m.lag.maxMs).toBe(m.lag.sumMs);
      expect(m.lag.buckets.at(-1)).toBe(1);
    });
  });

  it("skips a shard that hangs or fails, counts it in edgeclaw_metrics_scrape_errors, and still answers", { timeout: 30_000 }, async () => {
    const real = (i: number) => env.SCHEDULER.get(env.SCHEDULER.idFromName(`shard:${i}`)).metrics();
    const ask = (i: number): Promise<RunMetrics> => (i === 3 ? new Promise<RunMetrics>(() => {}) : i === 5 ? Promise.reject(new Error("unreachable")) : real(i));
    const text = await renderMetrics({ ...env, METRICS_TOKEN: "x" }, { scrapeShards: () => scrapeShards(env, ask, 1_500) });
    const families = parsePrometheus(text);
    expect(value(families, "edgeclaw_metrics_scrape_errors", { source: "scheduler" })).toBe(2);
    const seen = new Set(families.get("edgeclaw_scheduler_due_jobs")?.samples.map((s) => s.labels.shard));
    expect(seen.has("3")).toBe(false);
    expect(seen.has("5")).toBe(false);
    expect(seen.size).toBe(schedulerSettings(env).shards - 2);
  });
  it("gives the whole fan-out one budget: shards not answered or not asked by then are counted as errors", { timeout: 30_000 }, async () => {
    const count = schedulerSettings(env).shards;
    const quick: RunMetrics = { runs: { ok: 0, failed: 0, dead: 0, skipped: 0, missed: 0 }, lag: { count: 0, sumMs: 0, maxMs: 0, buckets: [] }, due: 0, inflight: 0 };
    const asked: number[] = [];
    // Shards 0 and 1 answer at once; every other shard never answers. The per-shard timeout (60 s)
    // alone would hold this scrape for minutes; the budget ends it.
    const ask = (i: number): Promise<RunMetrics> => {
      asked.push(i);
      return i < 2 ? Promise.resolve(quick) : new Promise<RunMetrics>(() => {});
    };
    const result = await scrapeShards(env, ask, 60_000, 300);
    expect(result.shards.map((s) => s.shard)).toEqual([0, 1]);
    expect(result.errors).toBe(count - 2);
    // Shards past the first rounds were never asked (count > concurrency), and still counted.
    expect(asked.length).toBeLessThan(count);
  });
});
