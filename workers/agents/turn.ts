// What a session turn decides, apart from storage: the DM policy, the context sent to the model,
// history compaction, how a reply is split for the platform, and retry timing. The session
// Durable Object (durable-objects/session.ts) owns the state and the order; it and the modules
// it runs turns with (session-turn.ts, workers/channels/outbox.ts) call these.
import type { InboundMessage } from "../../schema/channels.ts";
import type { Env } from "../env.ts";
import type { AgentConfig } from "./config.ts";
import { callModel, type ModelMessage } from "./model-call.ts";

export interface HistoryEntry {
  seq: number;
  role: "user" | "assistant" | "system";
  content: string;
  tokens: number;
  summary: boolean;
}

// A rough count (4 characters a token, plus the per-message framing): budgets are about scale,
// and the same estimate is used when writing and when checking.
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}

export type DmDecision = "answer" | "ignore" | "pair";

// Groups are answered when addressed (the adapter decides that); the policy is for direct messages.
export function dmDecision(agent: AgentConfig, message: InboundMessage, paired: boolean): DmDecision {
  if (message.groupId !== null || agent.dmPolicy === "open") return "answer";
  if (agent.dmPolicy === "allowlist") return agent.allowlist.includes(message.peerId) ? "answer" : "ignore";
  return paired ? "answer" : "pair";
}

export function pairingPrompt(code: string): string {
  return `Hi! This assistant only talks to people it knows. Your pairing code is ${code}. Ask the administrator to approve it, then write again.`;
}

export const START_TEXT = "Hi! Send me a message and I will answer. /reset starts a new conversation.";
export const RESET_TEXT = "Done: the conversation starts over.";
export { FAILURE_TEXT } from "./failure-text.ts";

export function contextFor(agent: AgentConfig, history: HistoryEntry[], userText: string): ModelMessage[] {
  const messages: ModelMessage[] = [];
  if (agent.systemPrompt) messages.push({ role: "system", content: agent.systemPrompt });
  for (const h of history) messages.push({ role: h.role, content: h.content });
  messages.push({ role: "user", content: userText });
  return messages;
}

// Messages answered together (merge_queued) are one user turn.
export function mergedText(messages: InboundMessage[]): string {
  return messages.map((m) => m.text).join("\n\n");
}

// Splits a reply at line or word boundaries into pieces a platform accepts.
export function splitReply(text: string, max: number): string[] {
  const parts: string[] = [];
  let rest = text.length > 0 ? text : "…";
  while (rest.length > max) {
    let cut = rest.lastIndexOf("\n", max);
    if (cut < max / 2) cut = rest.lastIndexOf(" ", max);
    if (cut < max / 2) cut = max;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\s+/, "");
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}

// History over budget: the newest entries that fit in half the budget stay verbatim, everything
// older (earlier summaries included) is replaced by one summary of at most a quarter of it, so
// the result is always within the budget.
export function compactionPlan(history: HistoryEntry[], budget: number): { older: HistoryEntry[]; kept: HistoryEntry[] } | null {
  const total = history.reduce((n, h) => n + h.tokens, 0);
  if (total <= budget) return null;
  let keptTokens = 0;
  let cut = history.length;
  while (cut > 0 && keptTokens + (history[cut - 1] as HistoryEntry).tokens <= budget / 2) {
    keptTokens += (history[cut - 1] as HistoryEntry).tokens;
    cut--;
  }
  return { older: history.slice(0, cut), kept: history.slice(cut) };
}

function summaryCap(budget: number): number {
  return Math.max(16, Math.floor(budget / 4));
}

// Shortens text to at most `tokens` by the same estimate.
function clampToTokens(text: string, tokens: number): string {
  const chars = Math.max(0, (tokens - 4) * 4);
  return text.length <= chars ? text : `${text.slice(0, Math.max(0, chars - 1))}…`;
}

const SUMMARY_PREFIX = "Summary of the earlier conversation: ";

export async function summarize(
  env: Env,
  agent: AgentConfig,
  older: HistoryEntry[],
  ids: { requestId: string; sessionKey: string; channel: string | null; waitUntil: (p: Promise<unknown>) => void },
): Promise<string> {
  const cap = summaryCap(agent.historyTokenBudget);
  const transcript = older.map((h) => `${h.summary ? "Earlier" : h.role}: ${h.content}`).join("\n");
  const reply = await callModel(env, {
    tenantId: agent.tenantId,
    agentId: agent.id,
    model: agent.model,
    messages: [
      { role: "system", content: "Summarize this conversation in a few sentences. Keep names, facts, decisions and open questions." },
      { role: "user", content: transcript },
    ],
    maxTokens: Math.max(8, cap - estimateTokens(SUMMARY_PREFIX)),
    usageRoute: "compaction",
    ...ids,
  });
  return clampToTokens(SUMMARY_PREFIX + reply.text.trim(), cap);
}

// Attempts and waits. Sends back off exponentially from SEND_RETRY_BASE_MS (at least the
// platform's retry_after) and go to the dead letters after MAX_SEND_ATTEMPTS; a failing model is
// retried MAX_MODEL_ATTEMPTS times before the sender gets FAILURE_TEXT, so every message is
// answered.
export const MAX_SEND_ATTEMPTS = 8;
export const MAX_MODEL_ATTEMPTS = 4;

function baseMs(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function sendBackoffMs(env: Env, attempts: number, retryAfterMs: number | null): number {
  const exp = Math.min(300_000, baseMs(env.SEND_RETRY_BASE_MS, 1000) * 2 ** Math.max(0, attempts - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}

export function modelBackoffMs(env: Env, attempts: number): number {
  return Math.min(60_000, baseMs(env.TURN_RETRY_BASE_MS, 2000) * 2 ** Math.max(0, attempts - 1));
}
