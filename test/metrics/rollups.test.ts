// Usage rollups under at-least-once delivery: events go through the Worker's real queue()
// handler in overlapping batches, whole batches redelivered, and a D1 that fails chosen batches
// once (before writing, or after the write committed, as when an ack is lost). The minute, hour
// and day rollups must each count every event exactly once, and /metrics (parsed strictly) must
// expose the same totals. A label value with quotes, backslashes and newlines comes out escaped.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LATENCY_BUCKETS_MS } from "../../schema/usage.ts";
import { app } from "../../workers/app.ts";
import worker from "../../workers/index.ts";
import type { UsageEvent } from "../../workers/usage/event.ts";
import { uid } from "../gateway/helpers.ts";
import { parsePrometheus, value } from "./prometheus.ts";

const TOKEN = "metrics-test-token-0123456789";
const HOUR = 3_600_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function events(run: string, count: number, model = (i: number) => `m${i % 3}`): UsageEvent[] {
  const next = rng(7);
  // 22:30 to 01:30 UTC: 180 minutes, 4 hours and 2 days, so every granularity has several buckets.
  const start = Date.UTC(2026, 10, 28, 22, 30);
  return Array.from({ length: count }, (_, i) => {
    const failed = next() < 0.1;
    const streamed = i % 4 === 0;
    const input = failed ? 0 : 1 + Math.floor(next() * 1000);
    const output = failed ? 0 : Math.floor(next() * 500);
    return {
      v: 1,
      id: crypto.randomUUID(),
      at: start + Math.floor((i / count) * 3 * HOUR),
      tenant_id: `${run}-t${i % 2}`,
      key_id: i % 5 === 0 ? null : `key-${i % 3}`,
      agent_id: i % 5 === 0 ? "agent-1" : null,
      channel: null,
      route: i % 5 === 0 ? "agent_turn" : "/v1/chat/completions",
      model: model(i),
      provider: i % 7 === 0 ? null : "fake",
      upstream_model: null,
      target: null,
      replica: null,
      input_tokens: input,
      output_tokens: output,
      tokens_estimated: false,
      // Multiples of 1/4 micro-USD: every sum is exact in a double.
      cost_micro_usd: input * 0.25 + output * 1.5,
      latency_ms: Math.floor(next() * 70_000),
      ttft_ms: streamed ? Math.floor(next() * 3000) : null,
      status: failed ? (i % 2 ? 502 : 429) : 200,
      error_class: failed ? (i % 2 ? "upstream_error" : "rate_limited") : null,
      cache: i % 6 === 0 ? "HIT" : i % 6 === 1 ? "MISS" : null,
      attempts: 1,
      fallbacks: [],
      request_id: `${run}-req-${i}`,
      trace_id: null,
    } satisfies UsageEvent;
  });
}

function flakyDb(failBefore: Set<number>, failAfter: Set<number>, current: { n: number }, seen: Set<number>): D1Database {
  return new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const first = !seen.has(current.n);
          seen.add(current.n);
          if (first && failBefore.has(current.n)) throw new Error("D1_ERROR: simulated outage (nothing written)");
          const result = await target.batch(statements);
          if (first && failAfter.has(current.n)) throw new Error("D1_ERROR: simulated network error after the commit");
          return result;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

// Delivers the messages in the given batches until every one is acknowledged, redelivering a
// retried batch after the others as the queue does.
async function deliver(batches: UsageEvent[][], db: D1Database, current: { n: number }): Promise<number> {
  const pending = batches.map((b, n) => ({ n, events: b, attempts: 1 }));
  let retried = 0;
  while (pending.length > 0) {
    const d = pending.shift()!;
    expect(d.attempts).toBeLessThanOrEqual(2);
    current.n = d.n;
    const batch = createMessageBatch(
      "edgeclaw-usage",
      d.events.map((e, i) => ({ id: `msg-${d.n}-${i}`, body: e as unknown, timestamp: new Date(), attempts: d.attempts })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, DB: db }, ctx);
    const result = await getQueueResult(batch, ctx);
    if (result.retryBatch.retry) {
      retried++;
      pending.push({ ...d, attempts: d.attempts + 1 });
    } else expect(result.ackAll).toBe(true);
  }
  return retried;
}

async function scrape(): Promise<string> {
  const res = await app.fetch(new Request("http://gateway.test/metrics", { headers: { authorization: `Bearer ${TOKEN}` } }), { ...env, METRICS_TOKEN: TOKEN }, createExecutionContext());
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

interface Totals {
  requests: number;
  status_4xx: number;
  status_5xx: number;
  input_tokens: number;
  output_tokens: number;
  cost_micro_usd: number;
  cache_hits: number;
  latency_sum_ms: number;
  ttft_count: number;
  ttft_sum_ms: number;
  latency_le_1000: number;
  latency_le_60000: number;
  ttft_le_500: number;
}

function expectedTotals(sent: UsageEvent[]): Totals {
  const sum = (f: (e: UsageEvent) => number) => sent.reduce((k, e) => k + f(e), 0);
  return {
    requests: sent.length,
    status_4xx: sum((e) => (e.status >= 400 && e.status < 500 ? 1 : 0)),
    status_5xx: sum((e) => (e.status >= 500 ? 1 : 0)),
    input_tokens: sum((e) => e.input_tokens),
    output_tokens: sum((e) => e.output_tokens),
    cost_micro_usd: sum((e) => e.cost_micro_usd),
    cache_hits: sum((e) => (e.cache === "HIT" ? 1 : 0)),
    latency_sum_ms: sum((e) => e.latency_ms),
    ttft_count: sum((e) => (e.ttft_ms === null ? 0 : 1)),
    ttft_sum_ms: sum((e) => e.ttft_ms ?? 0),
    latency_le_1000: sum((e) => (e.latency_ms <= 1000 ? 1 : 0)),
    latency_le_60000: sum((e) => (e.latency_ms <= 60000 ? 1 : 0)),
    ttft_le_500: sum((e) => (e.ttft_ms !== null && e.ttft_ms <= 500 ? 1 : 0)),
  };
}

async function rollupTotals(tenants: string[], granularity: string): Promise<Totals & { buckets: number }> {
  const cols = Object.keys(expectedTotals([])).map((c) => `SUM(${c}) AS ${c}`);
  return (await env.DB.prepare(
    `SELECT ${cols.join(", ")}, COUNT(DISTINCT bucket_start) AS buckets FROM usage_rollups WHERE granularity = ? AND tenant_id IN (${tenants.map(() => "?").join(",")})`,
  )
    .bind(granularity, ...tenants)
    .first<Totals & { buckets: number }>())!;
}

describe("usage rollups", () => {
  it("count every event once per granularity despite duplicated deliveries and failing batches, and /metrics exposes them", { timeout: 60_000 }, async () => {
    const run = uid("roll");
    const sent = events(run, 1200);
    // Batches of 150 new events (over the 100 ids one statement may bind) plus 30 already sent.
    const batches: UsageEvent[][] = [];
    for (let i = 0; i < sent.length; i += 150) batches.push([...sent.slice(i, i + 150), ...sent.slice(Math.max(0, i - 30), i)]);
    // Two whole batches delivered again, and one batch that repeats its own events.
    batches.push(batches[1]!, batches[4]!, [...sent.slice(600, 640), ...sent.slice(600, 640)]);
    const current = { n: -1 };
    const retried = await deliver(batches, flakyDb(new Set([2, 5]), new Set([3, 6, 9]), current, new Set()), current);
    expect(retried).toBe(5);

    const tenants = [`${run}-t0`, `${run}-t1`];
    const expected = expectedTotals(sent);
    for (const [granularity, buckets] of [["minute", 180], ["hour", 4], ["day", 2]] as const) {
      const totals = await rollupTotals(tenants, granularity);
      expect({ granularity, ...totals }).toEqual({ granularity, ...expected, buckets });
    }
    const stored = await env.DB.prepare(`SELECT COUNT(*) AS n, SUM(rolled_up) AS rolled FROM usage_events WHERE tenant_id IN (?, ?)`).bind(...tenants).first();
    expect(stored).toEqual({ n: sent.length, rolled: sent.length });

    // /metrics: per tenant, model and provider, equal to the events sent and to the day rollups.
    const families = parsePrometheus(await scrape());
    expect(value(families, "edgeclaw_metrics_truncated", {})).toBe(0);
    for (const tenant of tenants) {
      for (const model of ["m0", "m1", "m2"]) {
        for (const provider of ["fake", ""]) {
          const of = sent.filter((e) => e.tenant_id === tenant && e.model === model && (e.provider ?? "") === provider);
          const labels = { tenant, model, provider };
          const want = expectedTotals(of);
          const day = (await env.DB.prepare(
            "SELECT SUM(requests) AS requests, SUM(input_tokens) AS input, SUM(cost_micro_usd) AS cost FROM usage_rollups WHERE granularity = 'day' AND tenant_id = ? AND model = ? AND provider = ?",
          )
            .bind(tenant, model, provider)
            .first<{ requests: number; input: number; cost: number }>())!;
          expect(value(families, "edgeclaw_requests_total", labels)).toBe(want.requests);
          expect(day.requests).toBe(want.requests);
          expect(value(families, "edgeclaw_input_tokens_total", labels)).toBe(day.input);
          expect(value(families, "edgeclaw_input_tokens_total", labels)).toBe(want.input_tokens);
          expect(value(families, "edgeclaw_output_tokens_total", labels)).toBe(want.output_tokens);
          expect(value(families, "edgeclaw_cost_usd_total", labels)).toBe(day.cost / 1e6);
          expect(value(families, "edgeclaw_cost_usd_total", labels)).toBe(want.cost_micro_usd / 1e6);
          expect(value(families, "edgeclaw_cache_hits_total", labels)).toBe(want.cache_hits);
          for (const cls of ["upstream_error", "rate_limited"]) {
            const n = of.filter((e) => e.error_class === cls).length;
            expect(value(families, "edgeclaw_errors_total", { ...labels, class: cls })).toBe(n === 0 ? undefined : n);
          }
          const h = "edgeclaw_request_duration_seconds";
          expect(value(families, h, labels, `${h}_count`)).toBe(want.requests);
          expect(value(families, h, labels, `${h}_sum`)).toBeCloseTo(want.latency_sum_ms / 1000, 6);
          expect(value(families, h, { ...labels, le: "1" }, `${h}_bucket`)).toBe(want.latency_le_1000);
          expect(value(families, h, { ...labels, le: "60" }, `${h}_bucket`)).toBe(want.latency_le_60000);
          expect(value(families, h, { ...labels, le: "+Inf" }, `${h}_bucket`)).toBe(want.requests);
          const t = "edgeclaw_time_to_first_byte_seconds";
          expect(value(families, t, labels, `${t}_count`)).toBe(want.ttft_count === 0 ? undefined : want.ttft_count);
          if (want.ttft_count > 0) expect(value(families, t, { ...labels, le: "0.5" }, `${t}_bucket`)).toBe(want.ttft_le_500);
        }
      }
    }
    // The latency buckets are the schema's, in seconds.
    const les = families.get("edgeclaw_request_duration_seconds")!.samples.filter((s) => s.labels.tenant === tenants[0] && s.labels.model === "m0" && s.labels.provider === "fake" && s.name.endsWith("_bucket"));
    expect(les.map((s) => s.labels.le)).toEqual([...LATENCY_BUCKETS_MS.map((ms) => String(ms / 1000)), "+Inf"]);
  });

  it("escapes quotes, backslashes and newlines in label values", async () => {
    const run = uid("esc");
    const odd = 'we"ird\\model\nnext';
    const sent = events(run, 3, () => odd);
    const current = { n: -1 };
    await deliver([sent], env.DB, current);
    const text = await scrape();
    expect(text).toContain(`model="we\\"ird\\\\model\\nnext"`);
    expect(text.split("\n").some((line) => line.startsWith("next"))).toBe(false);
    const families = parsePrometheus(text);
    const total = [0, 1].reduce((k, t) => k + (value(families, "edgeclaw_requests_total", { tenant: `${run}-t${t}`, model: odd, provider: "fake" }) ?? 0), 0);
    expect(total).toBe(sent.filter((e) => e.provider === "fake").length);
  });
});
