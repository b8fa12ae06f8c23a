// The usage consumer under at-least-once delivery and a flaky D1: 10,000 model-call events of
// mixed kinds are delivered through the Worker's real queue() handler in batches that overlap
// (messages delivered twice), whole batches redelivered, and a D1 that fails chosen batches the
// first time (sometimes before writing, sometimes after the write committed, as when an ack is
// lost). Each failed batch is delivered again as the queue would (retryAll). D1 must end with
// exactly the 10,000 events, and their token and cost sums must be what was sent.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index.ts";
import { costMicroUsd, type UsageEvent } from "../../workers/usage/event.ts";
import { uid } from "../gateway/helpers.ts";

const TOTAL = 10_000;
const ROUTES = ["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/completions", "/v1/embeddings", "agent_turn", "compaction", "heartbeat"];
// Prices in USD per million tokens, binary fractions so that every sum is exact in a double.
const PRICES = [
  { input: 0.25, output: 1.25 },
  { input: 3, output: 15 },
  { input: 0.5, output: 1.5 },
  { input: 0, output: 0 },
];

// A small deterministic generator: the run is the same every time.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function events(run: string): UsageEvent[] {
  const next = rng(42);
  const out: UsageEvent[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const route = ROUTES[i % ROUTES.length] as string;
    const agent = !route.startsWith("/v1/");
    const prices = PRICES[Math.floor(next() * PRICES.length)]!;
    const failed = next() < 0.05;
    const input = failed ? 0 : 1 + Math.floor(next() * 4000);
    const output = failed || route === "/v1/embeddings" ? 0 : Math.floor(next() * 2000);
    out.push({
      v: 1,
      id: crypto.randomUUID(),
      at: 1_800_000_000_000 + i,
      tenant_id: `${run}-t${i % 7}`,
      key_id: agent ? null : `key-${i % 13}`,
      agent_id: agent ? `agent-${i % 5}` : null,
      channel: agent ? "telegram" : null,
      route,
      model: `model-${i % 4}`,
      provider: "fake",
      upstream_model: `up-${i % 4}`,
      target: `fallback[${i % 2}]`,
      replica: i % 3 === 0 ? `r${i % 2}` : null,
      input_tokens: input,
      output_tokens: output,
      tokens_estimated: i % 10 === 0,
      cost_micro_usd: costMicroUsd(input, output, prices),
      latency_ms: Math.floor(next() * 3000),
      ttft_ms: route === "agent_turn" ? Math.floor(next() * 500) : null,
      status: failed ? 502 : 200,
      error_class: failed ? "upstream_error" : null,
      cache: route.startsWith("/v1/chat") ? "MISS" : null,
      attempts: failed ? 3 : 1 + (i % 2),
      fallbacks: i % 2 === 1 ? ["fallback[0]:server_error"] : [],
      request_id: `${run}-req-${i}`,
      trace_id: null,
    });
  }
  return out;
}

interface Delivery {
  n: number;
  messages: { id: string; body: unknown }[];
  attempts: number;
}

// D1 that fails the chosen deliveries' first write: "before" throws without writing, "after"
// writes and then throws (the write committed but the consumer never learns it).
function flakyDb(failBefore: Set<number>, failAfter: Set<number>, current: { n: number }, seen: Set<number>): D1Database {
  return new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const n = current.n;
          const first = !seen.has(n);
          seen.add(n);
          if (first && failBefore.has(n)) throw new Error("D1_ERROR: simulated outage (nothing written)");
          const result = await target.batch(statements);
          if (first && failAfter.has(n)) throw new Error("D1_ERROR: simulated network error after the commit");
          return result;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("usage consumer", () => {
  it("writes exactly 10,000 events with duplicated deliveries and failing D1 batches", { timeout: 60_000 }, async () => {
    const run = uid("u10k");
    const sent = events(run);
    const asMessage = (e: UsageEvent) => ({ id: `msg-${e.id}`, body: e as unknown });

    // Batches of 90 new events plus 10 already delivered ones (the queue delivers at least once).
    const deliveries: Delivery[] = [];
    let n = 0;
    for (let i = 0; i < sent.length; i += 90) {
      const fresh = sent.slice(i, i + 90).map(asMessage);
      const again = i === 0 ? [] : sent.slice(i - 10, i).map(asMessage);
      deliveries.push({ n: n++, messages: [...fresh, ...again], attempts: 1 });
    }
    // Every 9th batch delivered a second time, whole.
    for (const d of deliveries.slice()) if (d.n % 9 === 0) deliveries.push({ n: n++, messages: d.messages, attempts: 1 });
    // Two malformed messages ride along: acknowledged, never written, never retried.
    deliveries.push({ n: n++, messages: [{ id: "bad-1", body: { v: 1, id: "x" } }, { id: "bad-2", body: "not an event" }, asMessage(sent[0]!)], attempts: 1 });

    const failBefore = new Set(deliveries.filter((d) => d.n % 11 === 3).map((d) => d.n));
    const failAfter = new Set(deliveries.filter((d) => d.n % 13 === 5).map((d) => d.n));
    const current = { n: -1 };
    const seen = new Set<number>();
    const db = flakyDb(failBefore, failAfter, current, seen);

    let retried = 0;
    let acked = 0;
    const pending = deliveries.slice();
    while (pending.length > 0) {
      const d = pending.shift()!;
      // Each chosen batch fails once: a third delivery would mean the consumer never recovers.
      expect(d.attempts).toBeLessThanOrEqual(2);
      current.n = d.n;
      const batch = createMessageBatch(
        "edgeclaw-usage",
        d.messages.map((m) => ({ ...m, timestamp: new Date(), attempts: d.attempts })),
      );
      const ctx = createExecutionContext();
      await worker.queue(batch, { ...env, DB: db }, ctx);
      const result = await getQueueResult(batch, ctx);
      if (result.retryBatch.retry) {
        retried++;
        // Redelivered later, after other batches, as the queue does.
        pending.push({ ...d, attempts: d.attempts + 1 });
      } else {
        acked++;
        expect(result.ackAll).toBe(true);
      }
      if (d.messages.some((m) => m.id.startsWith("bad-"))) {
        expect(result.explicitAcks.sort()).toEqual(["bad-1", "bad-2"]);
      }
    }
    expect(retried).toBe(failBefore.size + failAfter.size);
    expect(acked).toBe(deliveries.length);
    expect(deliveries.reduce((k, d) => k + d.messages.length, 0)).toBeGreaterThan(TOTAL + 1000);

    const tenants = [...new Set(sent.map((e) => e.tenant_id))];
    const where = `tenant_id IN (${tenants.map(() => "?").join(",")})`;
    const totals = await env.DB.prepare(
      `SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, SUM(input_tokens) AS input, SUM(output_tokens) AS output, SUM(cost_micro_usd) AS cost FROM usage_events WHERE ${where}`,
    )
      .bind(...tenants)
      .first<{ n: number; ids: number; input: number; output: number; cost: number }>();
    const sum = (f: (e: UsageEvent) => number) => sent.reduce((k, e) => k + f(e), 0);
    expect(totals).toEqual({
      n: TOTAL,
      ids: TOTAL,
      input: sum((e) => e.input_tokens),
      output: sum((e) => e.output_tokens),
      cost: sum((e) => e.cost_micro_usd),
    });

    // Per kind of call too, and each row as it was sent.
    const { results: byRoute } = await env.DB.prepare(`SELECT route, COUNT(*) AS n, SUM(output_tokens) AS output FROM usage_events WHERE ${where} GROUP BY route ORDER BY route`)
      .bind(...tenants)
      .all<{ route: string; n: number; output: number }>();
    const expected = [...ROUTES].sort().map((route) => {
      const of = sent.filter((e) => e.route === route);
      return { route, n: of.length, output: of.reduce((k, e) => k + e.output_tokens, 0) };
    });
    expect(byRoute).toEqual(expected);
    const sample = sent[1234]!;
    const row = await env.DB.prepare("SELECT * FROM usage_events WHERE id = ?").bind(sample.id).first<Record<string, unknown>>();
    expect(row).toMatchObject({
      tenant_id: sample.tenant_id,
      route: sample.route,
      agent_id: sample.agent_id,
      key_id: sample.key_id,
      input_tokens: sample.input_tokens,
      output_tokens: sample.output_tokens,
      tokens_estimated: sample.tokens_estimated ? 1 : 0,
      status: sample.status,
      attempts: sample.attempts,
      fallbacks: sample.fallbacks.length ? JSON.stringify(sample.fallbacks) : null,
    });
  });
});
