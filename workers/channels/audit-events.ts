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

// `error` is our own summary or carries the platform's answer, which may quote anything (a chat id,
// a user's name): only a known shape goes in, see errorSummary.
export function auditDeadLettered(env: Env, key: string, account: AccountConfig, intentId: number, attempts: number, error: string): void {
  sendSessionAudit(env, key, {
    tenantId: account.tenantId,
    actor: `channel:${account.channel}`,
    action: "message.dead_lettered",
    metadata: { account_id: account.id, channel: account.channel, intent_id: intentId, attempts, error_class: errorSummary(error) },
  });
}

// Our own fixed failure heads (what comes before the first ':' of an error this code writes).
const KNOWN_HEADS = new Set([
  "tenant revoked",
  "in doubt",
  "bot token",
  "access token",
  "channel access token",
  "callback_url refused",
  "api_base_url refused",
  "send failed",
  "telegram",
  "discord",
  "slack",
  "line",
  "whatsapp",
  "feishu",
]);
// Our platform errors start "<platform> [<our label>] <HTTP status or platform code> [...]", e.g.
// "telegram sendMessage 400", "discord POST /channels/{id}/messages 429", "callback answered 503",
// "whatsapp send 400 code 131047", "whatsapp 131047": only the platform and the first such number
// are kept ("telegram 400"), never the words around them. The number has at most 6 digits: a chat
// id or phone number is longer, so it can never pass for one.
const PLATFORMS = new Set(["telegram", "discord", "slack", "line", "whatsapp", "feishu", "callback"]);
const STATUS = /^[0-9]{3,6}$/;

// The dead letter's error class for the audit row: "<platform> <status>", one of our own fixed
// heads, or "send_failed". Never free text: a platform's error line may carry a chat id or a name.
export function errorSummary(error: string): string {
  const colon = error.indexOf(":");
  const head = ((colon < 0 ? error : error.slice(0, colon)).split("\n", 1)[0] ?? "").slice(0, 80);
  if (KNOWN_HEADS.has(head)) return head;
  const words = head.split(" ");
  const first = words[0] ?? "";
  const status = words.length <= 8 ? words.slice(1).find((w) => STATUS.test(w)) : undefined;
  if (PLATFORMS.has(first) && status !== undefined) return `${first} ${status}`;
  return "send_failed";
}
