// Workers Analytics Engine: where the USAGE_ANALYTICS binding is configured (wrangler.jsonc,
// dataset edgeclaw_usage), every usage event is also written there as one data point, for
// Cloudflare's own dashboards and its SQL API. The write is the runtime's fire-and-forget
// writeDataPoint (nothing to await), and any throw is caught and logged: it never delays or fails
// the call, and D1 (through the queue) stays the record of truth. Analytics Engine samples at high
// volume, so its queries weight each row by _sample_interval.
//
// The layout below is a contract with every saved SQL query and dashboard: append, never reorder.
import type { UsageEvent } from "./event.ts";

// Analytics Engine's limits (developers.cloudflare.com/analytics/analytics-engine/limits/): one
// index of at most 96 bytes, at most 20 blobs of 16 KB together, at most 20 doubles. Our blobs are
// cut to 256 UTF-16 units each: at most 768 UTF-8 bytes, 12 KB for all 16.
const INDEX_MAX_BYTES = 96;
const BLOB_MAX_CHARS = 256;

// blob1..blob16, in this order.
export const BLOBS = [
  "tenant_id",
  "route",
  "model",
  "provider",
  "error_class",
  "key_id",
  "agent_id",
  "target",
  "cache",
  "status",
  "region",
  "channel",
  "upstream_model",
  "replica",
  "request_id",
  "trace_id",
] as const;

// double1..double12, in this order.
export const DOUBLES = [
  "requests",
  "input_tokens",
  "output_tokens",
  "cost_micro_usd",
  "latency_ms",
  "ttft_ms",
  "has_ttft",
  "status",
  "attempts",
  "tokens_estimated",
  "cache_hit",
  "error",
] as const;

const encoder = new TextEncoder();

// The longest prefix of s that fits in max UTF-8 bytes (never splitting a character).
function fitBytes(s: string, max: number): string {
  if (encoder.encode(s).length <= max) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = encoder.encode(ch).length;
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

export function usageDataPoint(event: UsageEvent, region: string): AnalyticsEngineDataPoint {
  const blob: Record<(typeof BLOBS)[number], string | null> = {
    tenant_id: event.tenant_id,
    route: event.route,
    model: event.model,
    provider: event.provider,
    error_class: event.error_class,
    key_id: event.key_id,
    agent_id: event.agent_id,
    target: event.target,
    cache: event.cache,
    status: String(event.status),
    region,
    channel: event.channel,
    upstream_model: event.upstream_model,
    replica: event.replica,
    request_id: event.request_id,
    trace_id: event.trace_id,
  };
  const double: Record<(typeof DOUBLES)[number], number> = {
    requests: 1,
    input_tokens: event.input_tokens,
    output_tokens: event.output_tokens,
    cost_micro_usd: event.cost_micro_usd,
    latency_ms: event.latency_ms,
    ttft_ms: event.ttft_ms ?? 0,
    has_ttft: event.ttft_ms === null ? 0 : 1,
    status: event.status,
    attempts: event.attempts,
    tokens_estimated: event.tokens_estimated ? 1 : 0,
    cache_hit: event.cache === "HIT" ? 1 : 0,
    error: event.error_class === null ? 0 : 1,
  };
  return {
    // The index is Analytics Engine's sampling key: per tenant, so one busy tenant's sampling does
    // not thin out the others'.
    indexes: [fitBytes(event.tenant_id, INDEX_MAX_BYTES)],
    // '' rather than null for none, as in the rollups: SQL compares it without IS NULL.
    blobs: BLOBS.map((k) => (blob[k] ?? "").slice(0, BLOB_MAX_CHARS)),
    doubles: DOUBLES.map((k) => double[k]),
  };
}

// Writes one data point when the dataset is bound; never throws.
export function writeUsageAnalytics(dataset: AnalyticsEngineDataset | undefined, event: UsageEvent, region: string | undefined): void {
  if (!dataset) return;
  try {
    dataset.writeDataPoint(usageDataPoint(event, region ?? ""));
  } catch (err) {
    console.error(JSON.stringify({ msg: "usage data point not written", event_id: event.id, request_id: event.request_id, error: String(err) }));
  }
}
