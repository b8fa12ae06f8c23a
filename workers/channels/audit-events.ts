// The data-plane audit events of a session's message lifecycle (workers/audit/event.ts): a message
// accepted into the inbox, a send intent delivered, a send dead-lettered. Called by the session
// Durable Object and the outbox; each sends one event without waiting. The target is the session
// key with its subject replaced by the subject's pseudonym (by the consumer); metadata names the
// agent, account and intent, never a message body, a platform's error text or a raw subject id.
import type { SessionBinding } from "../../durable-objects/session-store.ts";
import { sendSessionAudit } from "../audit/event.ts";
import type { Env } from "../env.ts";
import type { AccountConfig } from "./types.ts";

export function auditAccepted(env: Env, binding: SessionBinding, seq: number, at: number): void {
  sendSessionAudit(env, binding.key, {
    tenantId: binding.account.tenantId,
    actor: `channel:${binding.account.channel}`,
    action: "message.accepted",
    at,
    metadata: { agent_id: binding.agent.id, account_id: binding.account.id, channel: binding.account.channel, seq },
  });
}

export function auditSent(env: Env, key: string, account: AccountConfig, intentId: number, attempts: number, how: "send" | "edit" | "stream"): void {
  sendSessionAudit(env, key, {
    tenantId: account.tenantId,
    actor: `channel:${account.channel}`,
    action: "message.sent",
    metadata: { account_id: account.id, channel: account.channel, intent_id: intentId, attempts, via: how },
  });
}

// `error` is our own summary or carries the platform's answer, which may quote anything: only its
// head (what comes before the first ':', e.g. "tenant revoked" or "telegram 400") goes in.
export function auditDeadLettered(env: Env, key: string, account: AccountConfig, intentId: number, attempts: number, error: string): void {
  sendSessionAudit(env, key, {
    tenantId: account.tenantId,
    actor: `channel:${account.channel}`,
    action: "message.dead_lettered",
    metadata: { account_id: account.id, channel: account.channel, intent_id: intentId, attempts, error_class: errorSummary(error) },
  });
}

export function errorSummary(error: string): string {
  const colon = error.indexOf(":");
  const head = (colon < 0 ? error : error.slice(0, colon)).split("\n", 1)[0] ?? "";
  return head.length > 60 ? head.slice(0, 60) : head;
}
