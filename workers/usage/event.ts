// The usage event: one per model call (a /v1 request that reached a model route, an agent turn, a
// compaction, a heartbeat), sent to the usage queue without waiting and written to D1 by the
// consumer (consumer.ts). The wire shape is snake_case JSON, validated with bounds on the way in:
// a queue message is external input to the consumer like any other.
import { z } from "zod";
import type { Env } from "../env.ts";
import { enqueue } from "./send-buffer.ts";
import { writeUsageAnalytics } from "./analytics.ts";

const id = z.string().min(1).max(256);
const name = z.string().max(512);
const count = z.number().int().min(0).max(1e12);

export const usageEvent = z.object({
  v: z.literal(1),
  id,
  at: z.number().int().min(0),
  tenant_id: id,
  key_id: id.nullable(),
  agent_id: id.nullable(),
  channel: name.nullable(),
  route: name.min(1),
  model: name,
  provider: name.nullable(),
  upstream_model: name.nullable(),
  target: name.nullable(),
  replica: name.nullable(),
  input_tokens: count,
  output_tokens: count,
  tokens_estimated: z.boolean(),
  cost_micro_usd: z.number().finite().min(0),
  latency_ms: count,
  ttft_ms: count.nullable(),
  status: z.number().int().min(100).max(599),
  error_class: name.nullable(),
  cache: z.string().max(16).nullable(),
  attempts: z.number().int().min(0).max(1000),
  fallbacks: z.array(name).max(100),
  request_id: id,
  trace_id: z.string().max(64).nullable(),
});

export type UsageEvent = z.infer<typeof usageEvent>;

// Cost in micro-USD: catalog prices are USD per million tokens, so tokens x price is micro-USD
// (the same arithmetic the budgets settle with, workers/router/limits.ts).
export function costMicroUsd(inputTokens: number, outputTokens: number, prices: { input: number; output: number }): number {
  return inputTokens * prices.input + outputTokens * prices.output;
}

// The trace id of a W3C traceparent header (version-traceid-parentid-flags), or null.
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;
export function traceIdOf(traceparent: string | null | undefined): string | null {
  if (!traceparent || traceparent.length > 128) return null;
  const m = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  return m && m[1] !== "0".repeat(32) ? (m[1] as string) : null;
}

// Sends without making the caller wait: the event joins the isolate's open batch for the queue
// (send-buffer.ts), which is sent under waitUntil; a failed send is logged (the call itself
// already succeeded or failed on its own; metering never fails it). A Worker without the binding
// (the global entry) sends nothing. The same event goes to Workers Analytics Engine where that is
// bound (analytics.ts; fire-and-forget, never throws).
export function sendUsage(env: Env, waitUntil: (p: Promise<unknown>) => void, event: UsageEvent): void {
  writeUsageAnalytics(env.USAGE_ANALYTICS, event, env.REGION);
  const queue = env.USAGE_QUEUE as Queue<unknown> | undefined;
  if (!queue) return;
  enqueue(queue, waitUntil, { body: event, id: event.id });
}
