// One row per model call (workers/usage/): who called, through which route, which provider and
// target served it, tokens, cost, timing and outcome. Written only by the usage queue's consumer,
// in batches, with INSERT OR IGNORE on the event id, so a redelivered batch adds nothing.
import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const usageEvents = sqliteTable(
  "usage_events",
  {
    // Random per call (crypto.randomUUID at the emit site): the deduplication key.
    id: text("id").primaryKey(),
    // When the call finished (epoch ms).
    at: integer("at").notNull(),
    tenantId: text("tenant_id").notNull(),
    // The API key's id for /v1 calls; null for agents.
    keyId: text("key_id"),
    // The agent's id for agent turns, compactions and heartbeats; null for /v1 calls.
    agentId: text("agent_id"),
    channel: text("channel"),
    // The /v1 path, or agent_turn, compaction, heartbeat.
    route: text("route").notNull(),
    // The tenant's public model name asked for, and what served it.
    model: text("model").notNull(),
    provider: text("provider"),
    upstreamModel: text("upstream_model"),
    target: text("target"),
    replica: text("replica"),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    // 1 when the upstream reported no usage and the tokens were estimated.
    tokensEstimated: integer("tokens_estimated").notNull(),
    // Micro-USD at the serving target's catalog prices (USD per million tokens x tokens).
    costMicroUsd: real("cost_micro_usd").notNull(),
    latencyMs: integer("latency_ms").notNull(),
    // Time to the first streamed byte; null for JSON answers and cache hits.
    ttftMs: integer("ttft_ms"),
    // HTTP status given to the caller (200, or the error's) and the error's code.
    status: integer("status").notNull(),
    errorClass: text("error_class"),
    // HIT, COALESCED, MISS, BYPASS... (x-edgeclaw-cache-status); null where no cache applies.
    cache: text("cache"),
    // Upstream attempts made (0 for a cache hit), and why targets were passed over, in order.
    attempts: integer("attempts").notNull(),
    fallbacks: text("fallbacks"),
    requestId: text("request_id").notNull(),
    traceId: text("trace_id"),
    // 0 until the consumer has added the event to usage_rollups, in the same D1 batch that inserted
    // it (workers/usage/rollups.ts), so a redelivered event is never counted twice. The column's
    // default is 1: events written before the rollups existed are not counted in them.
    rolledUp: integer("rolled_up").notNull().default(1),
  },
  (t) => [
    // Per-tenant reads by time (admin usage, rollups) and the per-tenant retention purge.
    index("usage_events_tenant_at_idx").on(t.tenantId, t.at),
    // Retention and rollups scan by time across tenants.
    index("usage_events_at_idx").on(t.at),
  ],
);

export type UsageEventRow = typeof usageEvents.$inferSelect;

// How long a tenant's raw usage events are kept (workers/usage/retention.ts). No row: the
// deployment's USAGE_RETENTION_DAYS. days null: kept forever.
export const usageRetention = sqliteTable("usage_retention", {
  tenantId: text("tenant_id").primaryKey(),
  days: integer("days"),
  updatedAt: integer("updated_at").notNull(),
});

// Upper bounds (ms) of the latency and time-to-first-byte histogram buckets; each bucket column
// counts calls at or under its bound (cumulative, as Prometheus wants), so rows add up.
export const LATENCY_BUCKETS_MS = [50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;

function bucketColumns(prefix: string) {
  return Object.fromEntries(LATENCY_BUCKETS_MS.map((ms) => [`${prefix}Le${ms}`, integer(`${prefix}_le_${ms}`).notNull()])) as Record<
    `${typeof prefix}Le${(typeof LATENCY_BUCKETS_MS)[number]}`,
    ReturnType<typeof integer>
  >;
}

// Usage summed per minute, hour and day (workers/usage/rollups.ts): the fast read for /metrics
// and usage reports. Written only by the usage consumer, in the batch that inserts the raw
// events. Dimensions are never null ('' stands for none) so that the primary key dedupes them.
export const usageRollups = sqliteTable(
  "usage_rollups",
  {
    // 'minute' | 'hour' | 'day', and the bucket's start (epoch ms, UTC).
    granularity: text("granularity").notNull(),
    bucketStart: integer("bucket_start").notNull(),
    tenantId: text("tenant_id").notNull(),
    keyId: text("key_id").notNull(),
    agentId: text("agent_id").notNull(),
    model: text("model").notNull(),
    provider: text("provider").notNull(),
    route: text("route").notNull(),
    // The calls' error code ('' for successes), so errors by class are the rows where it is set.
    errorClass: text("error_class").notNull(),
    requests: integer("requests").notNull(),
    // Calls answered with a 4xx / 5xx status.
    status4xx: integer("status_4xx").notNull(),
    status5xx: integer("status_5xx").notNull(),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    costMicroUsd: real("cost_micro_usd").notNull(),
    cacheHits: integer("cache_hits").notNull(),
    latencySumMs: integer("latency_sum_ms").notNull(),
    ...bucketColumns("latency"),
    // Only calls with a time to first byte (streamed answers) count here.
    ttftCount: integer("ttft_count").notNull(),
    ttftSumMs: integer("ttft_sum_ms").notNull(),
    ...bucketColumns("ttft"),
  },
  (t) => [
    primaryKey({ columns: [t.granularity, t.bucketStart, t.tenantId, t.keyId, t.agentId, t.model, t.provider, t.route, t.errorClass] }),
    // Tenant-scoped reads (GET /admin/usage for one tenant) seek one tenant's bucket range; the
    // primary key serves deployment-wide ones (granularity, bucket). It replaces the former
    // (granularity, tenant_id) index, a prefix of it (/metrics' day rows grouped by tenant).
    index("usage_rollups_tenant_bucket_idx").on(t.granularity, t.tenantId, t.bucketStart),
  ],
);
