// Reads usage rows back from D1 as the queue consumer wrote them.
import { env } from "cloudflare:workers";
import type { UsageEventRow } from "../../schema/usage.ts";
import type { UsageEvent } from "../../workers/usage/event.ts";

export interface RawUsageRow {
  id: string;
  tenant_id: string;
  key_id: string | null;
  agent_id: string | null;
  route: string;
  model: string;
  provider: string | null;
  upstream_model: string | null;
  target: string | null;
  input_tokens: number;
  output_tokens: number;
  tokens_estimated: number;
  cost_micro_usd: number;
  latency_ms: number;
  ttft_ms: number | null;
  status: number;
  error_class: string | null;
  cache: string | null;
  attempts: number;
  fallbacks: string | null;
  request_id: string;
  trace_id: string | null;
}

// Waits (polling D1) until the queue has delivered `count` events of this request id: the
// producer never waits on the consumer, so a test reads the rows when they land.
export async function usageRowsFor(requestId: string, count = 1, waitMs = 20_000): Promise<RawUsageRow[]> {
  const until = Date.now() + waitMs;
  for (;;) {
    const { results } = await env.DB.prepare("SELECT * FROM usage_events WHERE request_id = ? ORDER BY at").bind(requestId).all<RawUsageRow>();
    if (results.length >= count || Date.now() > until) return results;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type { UsageEventRow };

// A valid /v1 usage event for tests that feed the queue or its consumer directly; `input_tokens`
// is `i`, so sums identify which events landed.
export function usageEventFixture(tenantId: string, i: number, overrides: Partial<UsageEvent> = {}): UsageEvent {
  return {
    v: 1,
    id: crypto.randomUUID(),
    at: Date.now(),
    tenant_id: tenantId,
    key_id: "key-1",
    agent_id: null,
    channel: null,
    route: "/v1/chat/completions",
    model: "m",
    provider: "fake",
    upstream_model: "m",
    target: "t",
    replica: null,
    input_tokens: i,
    output_tokens: 1,
    tokens_estimated: false,
    cost_micro_usd: 0,
    latency_ms: 5,
    ttft_ms: null,
    status: 200,
    error_class: null,
    cache: null,
    attempts: 1,
    fallbacks: [],
    request_id: `req-${i}`,
    trace_id: null,
    ...overrides,
  };
}

// Awaits everything handed to a test's waitUntil, including what that work handed on in turn
// (the meter's after-answer work enqueues the event, whose batch flush is a waitUntil of its own).
export async function drained(pending: Promise<unknown>[]): Promise<void> {
  for (let done = 0; done < pending.length; ) {
    const upTo = pending.length;
    await Promise.all(pending.slice(done, upTo));
    done = upTo;
  }
}
