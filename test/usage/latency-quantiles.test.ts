// GET /admin/usage's latency_p50_ms / latency_p99_ms: estimated from the rollups' latency histogram
// the way Prometheus's histogram_quantile does (linear inside the bucket the rank falls in). Events
// with chosen latencies go through the Worker's real queue handler into D1; the report's estimates
// must be what the histogram says, from the rollups and from raw events alike.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index.ts";
import { histogramQuantile } from "../../workers/usage/quantile.ts";
import { admin, expectStatus, makeTenant } from "../gateway/helpers.ts";
import { usageEventFixture } from "./helpers.ts";

describe("latency quantiles in usage reports", () => {
  it("p50 and p99 follow the histogram: interpolated inside a bucket, the last bound past it, null without calls", async () => {
    const t = await makeTenant();
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    // 100 calls: 60 at 30 ms (bucket <= 50), 30 at 400 ms (<= 500), 9 at 2,000 ms (<= 2,500), 1 at 90 s (past 60 s).
    const latencies = [...Array(60).fill(30), ...Array(30).fill(400), ...Array(9).fill(2000), 90_000];
    const events = latencies.map((ms, i) => usageEventFixture(t.tenantId, i, { at: minute + 1000, latency_ms: ms }));
    const batch = createMessageBatch("edgeclaw-usage", events.map((e) => ({ id: e.id, timestamp: new Date(), attempts: 1, body: e })));
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);

    const q = `tenant_id=${t.tenantId}&from=${minute}&to=${minute + 60_000}&granularity=minute`;
    const report = expectStatus(await admin(t.owner, "GET", `/usage?${q}`), 200).body;
    expect(report.data).toHaveLength(1);
    const row = report.data[0];
    expect(row.requests).toBe(100);
    // p50: rank 50 of the 60 calls in [0, 50] ms -> 50 * 50/60 = 41.7 -> 42.
    expect(row.latency_p50_ms).toBe(42);
    // p99: rank 99 falls in (1,000, 2,500] holding calls 91-99 -> 1,000 + 1,500 * (99 - 90) / 9 = 2,500.
    expect(row.latency_p99_ms).toBe(2500);
    expect(row.latency_avg_ms).toBe(Math.round(latencies.reduce((a, b) => a + b, 0) / 100));
    // The CSV carries them too.
    const csv = await admin(t.owner, "GET", `/usage?${q}&format=csv`);
    expect(String(csv.body)).toContain("latency_p50_ms,latency_p99_ms");

    // An empty bucket range: no rows, so no estimate to get wrong.
    const empty = expectStatus(await admin(t.owner, "GET", `/usage?tenant_id=${t.tenantId}&from=${minute - 3_600_000}&to=${minute - 3_540_000}&granularity=minute`), 200).body;
    expect(empty.data).toEqual([]);
  });

  it("the estimator: the last bound past the histogram, null for no calls, exact at bucket edges", () => {
    const bounds = [50, 100, 250];
    expect(histogramQuantile(0.5, bounds, [0, 0, 0], 0)).toBeNull();
    // All calls slower than the largest bucket: the answer is that bound (a floor).
    expect(histogramQuantile(0.5, bounds, [0, 0, 0], 10)).toBe(250);
    // Every call in the first bucket: linear from 0.
    expect(histogramQuantile(0.5, bounds, [10, 10, 10], 10)).toBe(25);
    // Empty buckets below the rank are skipped: all 10 calls in (100, 250].
    expect(histogramQuantile(0.1, bounds, [0, 0, 10], 10)).toBe(115);
    expect(histogramQuantile(1, bounds, [5, 10, 10], 10)).toBe(100);
  });
});
