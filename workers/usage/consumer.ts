// The usage queue's consumer (the queue() handler in workers/index.ts): each delivered batch is
// written to D1 in ONE statement batch (one transaction), every row INSERT OR IGNORE on the event
// id. So a redelivered batch (a retry after a failure, or the queue's at-least-once delivery)
// adds nothing, and a batch is either all in or all retried: when the write fails (D1 down,
// overloaded) the whole batch is retried with a growing delay, and after max_retries it goes to
// the dead-letter queue (wrangler.jsonc), never dropped. A message that is not a valid usage
// event is acknowledged and logged: retrying it could never succeed. The same batch adds the newly
// inserted events to the minute/hour/day rollups (rollups.ts), so those are exactly-once too.
// The same queue carries data-plane audit events (`kind: "audit"`, workers/audit/event.ts; a
// message without a kind is a usage event): they go into audit_log in the same batch
// (workers/audit/consumer.ts), with the same all-or-retry and insert-or-ignore guarantees.
import { auditStatements } from "../audit/consumer.ts";
import { auditEvent, type AuditEvent } from "../audit/event.ts";
import type { Env } from "../env.ts";
import { usageEvent, type UsageEvent } from "./event.ts";
import { rollupStatements } from "./rollups.ts";

const INSERT =
  "INSERT OR IGNORE INTO usage_events (id, at, tenant_id, key_id, agent_id, channel, route, model, provider, upstream_model, target, replica, " +
  "input_tokens, output_tokens, tokens_estimated, cost_micro_usd, latency_ms, ttft_ms, status, error_class, cache, attempts, fallbacks, request_id, trace_id, rolled_up) " +
  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)";

// Longest wait before a failed batch is delivered again (seconds).
const MAX_RETRY_DELAY_S = 60;

export interface ConsumeResult {
  // Usage events in the written batch (audit events are counted in `audited`).
  written: number;
  audited?: number;
  malformed: number;
  failed: boolean;
}

export async function consumeUsage(batch: MessageBatch<unknown>, env: Pick<Env, "DB" | "ADMIN_JWT_SECRET">): Promise<ConsumeResult> {
  const events: UsageEvent[] = [];
  const audits: AuditEvent[] = [];
  let malformed = 0;
  for (const message of batch.messages) {
    const isAudit = typeof message.body === "object" && message.body !== null && (message.body as { kind?: unknown }).kind === "audit";
    const parsed = isAudit ? auditEvent.safeParse(message.body) : usageEvent.safeParse(message.body);
    if (parsed.success) {
      if (isAudit) audits.push(parsed.data as AuditEvent);
      else events.push(parsed.data as UsageEvent);
    } else {
      malformed++;
      message.ack();
      console.error(JSON.stringify({ msg: isAudit ? "audit event malformed, dropped" : "usage event malformed, dropped", queue: batch.queue, message_id: message.id, issues: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`) }));
    }
  }
  if (events.length === 0 && audits.length === 0) return { written: 0, malformed, failed: false };
  try {
    const insert = env.DB.prepare(INSERT);
    const usage = events.length === 0 ? [] : [...events.map((e) => insert.bind(...row(e))), ...rollupStatements(env.DB, events.map((e) => e.id))];
    await env.DB.batch([...usage, ...(await auditStatements(env, env.DB, audits))]);
  } catch (err) {
    const attempts = Math.max(1, ...batch.messages.map((m) => m.attempts));
    const delaySeconds = Math.min(MAX_RETRY_DELAY_S, 2 ** attempts);
    console.error(JSON.stringify({ msg: "usage batch not written, retrying", queue: batch.queue, events: events.length, audit_events: audits.length, attempts, delay_s: delaySeconds, error: String(err) }));
    batch.retryAll({ delaySeconds });
    return { written: 0, malformed, failed: true };
  }
  batch.ackAll();
  return { written: events.length, ...(audits.length > 0 ? { audited: audits.length } : {}), malformed, failed: false };
}

function row(e: UsageEvent): (string | number | null)[] {
  return [
    e.id,
    e.at,
    e.tenant_id,
    e.key_id,
    e.agent_id,
    e.channel,
    e.route,
    e.model,
    e.provider,
    e.upstream_model,
    e.target,
    e.replica,
    e.input_tokens,
    e.output_tokens,
    e.tokens_estimated ? 1 : 0,
    e.cost_micro_usd,
    e.latency_ms,
    e.ttft_ms,
    e.status,
    e.error_class,
    e.cache,
    e.attempts,
    e.fallbacks.length > 0 ? JSON.stringify(e.fallbacks) : null,
    e.request_id,
    e.trace_id,
  ];
}
