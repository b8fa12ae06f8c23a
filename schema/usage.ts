// One row per model call (workers/usage/): who called, through which route, which provider and
// target served it, tokens, cost, timing and outcome. Written only by the usage queue's consumer,
// in batches, with INSERT OR IGNORE on the event id, so a redelivered batch adds nothing.
import { index, integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
