// One turn of a session, run by the session Durable Object's alarm (durable-objects/session.ts),
// which picks the due messages and keeps the order: commands, the DM policy and pairing, the
// model call (streamed to WebChat sockets, and edited in place on platforms whose account streams
// replies: workers/channels/stream-reply.ts), retries, and the one transaction that answers the
// messages and queues the reply on the outbox; and history compaction between turns. The
// decisions themselves (policy, context, compaction plan, backoff) are turn.ts's.
import type { InboundMessage } from "../../schema/channels.ts";
import type { InboxRow, SessionBinding, SessionHost } from "../../durable-objects/session-store.ts";
import { splitForChannel } from "../channels/index.ts";
import { queueReplyParts, ReplyStream } from "../channels/stream-reply.ts";
import { broadcast } from "../channels/webchat-socket.ts";
import { tenantStatus } from "../tenants/liveness.ts";
import type { AgentConfig } from "./config.ts";
import { callModel } from "./model-call.ts";
import { pairingState } from "./pairing.ts";
import {
  compactionPlan,
  contextFor,
  dmDecision,
  estimateTokens,
  FAILURE_TEXT,
  MAX_MODEL_ATTEMPTS,
  mergedText,
  modelBackoffMs,
  pairingPrompt,
  RESET_TEXT,
  START_TEXT,
  summarize,
  type HistoryEntry,
} from "./turn.ts";

export async function runTurn(s: SessionHost, batch: InboxRow[], gen: number): Promise<void> {
  const agent = (s.binding() as SessionBinding).agent;
  const key = (s.binding() as SessionBinding).key;
  // Checked again right before the turn: a revocation may have landed during this alarm.
  if ((await tenantStatus(s.env, agent.tenantId)) !== "live") return;
  const messages = batch.map((r) => JSON.parse(r.message) as InboundMessage);
  const last = messages[messages.length - 1] as InboundMessage;
  const attempts = (batch[batch.length - 1] as InboxRow).attempts + 1;
  for (const r of batch) s.sql.exec("UPDATE inbox SET attempts = attempts + 1 WHERE seq = ?", r.seq);

  if (last.command === "reset") {
    s.sql.exec("DELETE FROM history");
    return finish(s, batch, last, RESET_TEXT, null);
  }
  if (last.command === "start") return finish(s, batch, last, START_TEXT, null);

  const decision = dmDecision(agent, last, s.meta<boolean>("paired") === true);
  if (decision === "ignore") return finish(s, batch, last, null, null);
  if (decision === "pair") {
    const state = await pairingState(s.env, { agentId: agent.id, sessionKey: key, message: last });
    if (gen !== s.generation()) return;
    if (!state.approved) return finish(s, batch, last, pairingPrompt(state.code), null);
    s.setMeta("paired", true);
  }
  await register(s, agent, key, last);

  const userText = mergedText(messages);
  // A merged batch streams as one reply, keyed like finish() keys it: by the last message, or
  // into the message an earlier run of this batch's first messages streamed into.
  const stream = ReplyStream.open(s, gen, last, messages.map((m) => m.messageId));
  let reply;
  let failure: { err: unknown } | null = null;
  try {
    reply = await callModel(s.env, {
      tenantId: agent.tenantId,
      agentId: agent.id,
      model: agent.model,
      messages: contextFor(agent, s.history(), userText),
      maxTokens: agent.maxReplyTokens,
      requestId: `turn-${crypto.randomUUID()}`,
      sessionKey: key,
      onDelta: (text) => {
        broadcast(s.ctx, { type: "delta", reply_to: last.messageId, text });
        stream?.push(text);
      },
      waitUntil: (p) => s.ctx.waitUntil(p),
    });
  } catch (err) {
    failure = { err };
  }
  // A post or edit still in flight settles first: finish() must see its message id.
  await stream?.stop();
  if (failure !== null || !reply) {
    if (gen !== s.generation()) return;
    const err = failure?.err;
    console.error(JSON.stringify({ level: "warn", msg: "session turn: model call failed", session: key, attempts, error: String(err) }));
    if (attempts >= MAX_MODEL_ATTEMPTS) return finish(s, batch, last, FAILURE_TEXT, null);
    const retryAt = Date.now() + modelBackoffMs(s.env, attempts);
    for (const r of batch) s.sql.exec("UPDATE inbox SET next_at = ? WHERE seq = ?", retryAt, r.seq);
    return;
  }
  if (gen !== s.generation()) return;
  s.setMeta("model_used", reply.target);
  finish(s, batch, last, reply.text.trim(), userText);
}

// The one transaction that answers a turn: history, the messages marked answered, and the
// reply as send intents. `text` null: answered by silence (a sender outside the allowlist).
function finish(s: SessionHost, batch: InboxRow[], last: InboundMessage, text: string | null, userText: string | null): void {
  const account = (s.binding() as SessionBinding).account;
  const now = Date.now();
  s.ctx.storage.transactionSync(() => {
    if (userText !== null && text !== null) {
      s.sql.exec("INSERT INTO history (role, content, tokens, at) VALUES ('user', ?, ?, ?)", userText, estimateTokens(userText), now);
      s.sql.exec("INSERT INTO history (role, content, tokens, at) VALUES ('assistant', ?, ?, ?)", text, estimateTokens(text), now);
    }
    for (const r of batch) {
      s.sql.exec(
        "UPDATE inbox SET state = ?, reply = ?, done_at = ? WHERE seq = ?",
        text === null ? "ignored" : "done",
        text,
        now,
        r.seq,
      );
    }
    if (text === null) return;
    // A streamed reply's part 0 becomes the final edit of the message it streamed into.
    queueReplyParts(s, last, splitForChannel(account.channel, text), now, batch.map((r) => r.msg_id));
    s.setMeta("last_active", now);
  });
}

// The D1 index row the admin API lists sessions from (once; off the webhook path).
async function register(s: SessionHost, agent: AgentConfig, key: string, m: InboundMessage): Promise<void> {
  if (s.meta<boolean>("registered")) return;
  try {
    await s.env.DB.prepare("INSERT OR IGNORE INTO sessions (key, tenant_id, agent_id, channel, account_id, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(key, agent.tenantId, agent.id, m.channel, m.accountId, s.meta<number>("created_at") ?? Date.now())
      .run();
    s.setMeta("registered", true);
  } catch (err) {
    console.error(JSON.stringify({ level: "warn", msg: "session index write failed", session: key, error: String(err) }));
  }
}

export async function compactIfNeeded(s: SessionHost, gen: number): Promise<boolean> {
  const agent = s.binding()?.agent ?? null;
  if (!agent) return false;
  const total = s.sql.exec<{ n: number | null }>("SELECT SUM(tokens) AS n FROM history").one().n ?? 0;
  if (total <= agent.historyTokenBudget) return false;
  const plan = compactionPlan(s.history(), agent.historyTokenBudget);
  if (!plan) return false;
  const key = (s.binding() as SessionBinding).key;
  let summary: string | null = null;
  try {
    summary = await summarize(s.env, agent, plan.older, {
      requestId: `compact-${crypto.randomUUID()}`,
      sessionKey: key,
      waitUntil: (p) => s.ctx.waitUntil(p),
    });
  } catch (err) {
    // Staying within the budget matters more than the summary: the older turns are dropped.
    console.error(JSON.stringify({ level: "warn", msg: "history summary failed; older turns dropped", session: key, error: String(err) }));
  }
  if (gen !== s.generation()) return false;
  const upTo = (plan.older[plan.older.length - 1] as HistoryEntry).seq;
  const first = (plan.older[0] as HistoryEntry).seq;
  s.ctx.storage.transactionSync(() => {
    s.sql.exec("DELETE FROM history WHERE seq <= ?", upTo);
    // The summary takes the place of the oldest replaced entry, so it sorts first.
    if (summary) s.sql.exec("INSERT INTO history (seq, role, content, tokens, summary, at) VALUES (?, 'system', ?, ?, 1, ?)", first, summary, estimateTokens(summary), Date.now());
  });
  return true;
}
