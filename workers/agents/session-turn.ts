// One turn of a session, run by the session Durable Object's alarm (durable-objects/session.ts),
// which picks the due messages and keeps the order: commands, the DM policy and pairing, the
// model call (streamed to WebChat sockets, and edited in place on platforms whose account streams
// replies: workers/channels/stream-reply.ts), retries, and the one transaction that answers the
// messages and queues the reply on the outbox; and history compaction between turns. The
// decisions themselves (policy, context, compaction plan, backoff) are turn.ts's.
import type { InboundMessage } from "../../schema/channels.ts";
import type { InboxRow, SessionBinding, SessionHost } from "../../durable-objects/session-store.ts";
import { toHex } from "../auth/encoding.ts";
import { splitForChannel } from "../channels/index.ts";
import { queueReplyParts, ReplyStream } from "../channels/stream-reply.ts";
import { broadcast } from "../channels/webchat-socket.ts";
import { turnLogLine } from "../observability/log.ts";
import { tracedRoot } from "../observability/otlp.ts";
import { errorText, type Span } from "../observability/trace.ts";
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

// How a turn ended (the turn's log line and span say it).
export type TurnStatus =
  | "answered" // the model's reply is on the outbox
  | "command" // /start or /reset, answered with a fixed text
  | "ignored" // a sender outside the DM allowlist: answered by silence
  | "pairing" // an unpaired sender got the pairing prompt
  | "retry" // the model call failed; the messages are due again later
  | "failed" // the model call failed MAX_MODEL_ATTEMPTS times: the sender got FAILURE_TEXT
  | "superseded" // the session was erased or expired during the turn: nothing was written
  | "tenant_not_live" // the tenant was revoked or halted: left for the tenant halt
  | "error"; // the turn threw (a storage error); the alarm runs it again

interface TurnOutcome {
  status: TurnStatus;
  error?: string;
  tokens?: { input: number; output: number };
}

// A turn is a trace of its own (an `agent.turn` CONSUMER span; its model call, limits, route and
// upstream attempts are children) and one JSON log line. It does not continue the trace of the
// webhook that delivered the message: a turn may answer several messages, from several
// deliveries, minutes later after retries, so it has no one parent, and carrying a traceparent
// would take a column in every session's inbox.
export async function runTurn(s: SessionHost, batch: InboxRow[], gen: number): Promise<void> {
  const binding = s.binding() as SessionBinding;
  const last = JSON.parse((batch[batch.length - 1] as InboxRow).message) as InboundMessage;
  const turnId = `turn-${crypto.randomUUID()}`;
  const attempt = (batch[batch.length - 1] as InboxRow).attempts + 1;
  const attributes = {
    "edgeclaw.turn_id": turnId,
    "edgeclaw.tenant_id": binding.agent.tenantId,
    "edgeclaw.agent_id": binding.agent.id,
    "edgeclaw.channel": last.channel,
    "edgeclaw.turn.messages": batch.length,
    "edgeclaw.turn.attempt": attempt,
  };
  const waitUntil = (p: Promise<unknown>) => s.ctx.waitUntil(p);
  // Read (or made) before any await: an erase during the turn must not get a row written back.
  const session = logRef(s);
  let outcome: TurnOutcome = { status: "error" };
  let span: Span | null = null;
  const started = Date.now();
  try {
    await tracedRoot(s.env, waitUntil, "agent.turn", "consumer", attributes, async (root) => {
      span = root;
      outcome = await turn(s, batch, gen, turnId, session);
      root?.set("edgeclaw.turn.status", outcome.status);
      if (outcome.error) root?.fail(outcome.error);
    });
  } catch (err) {
    // Unexpected (a storage error): the alarm's retry runs the turn again.
    outcome = { status: "error", error: errorText(err) };
    throw err;
  } finally {
    const traced = span as Span | null;
    console.log(
      turnLogLine({
        turnId,
        traceId: traced?.trace.traceId ?? "",
        spanId: traced?.spanId ?? "",
        session,
        tenantId: binding.agent.tenantId,
        agentId: binding.agent.id,
        channel: last.channel,
        status: outcome.status,
        error: outcome.error ?? null,
        messages: batch.length,
        attempt,
        latencyMs: Date.now() - started,
        tokens: outcome.tokens ?? null,
      }),
    );
  }
}

// The session's name in logs: a random pseudonym in its own storage, made on its first turn and
// erased with it (deleteAll), so a log line never holds the key (which embeds the peer or group
// id) and nothing links old lines to a person once the session is erased.
function logRef(s: SessionHost): string {
  const known = s.meta<string>("log_ref");
  if (known) return known;
  const ref = `ses_${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
  s.setMeta("log_ref", ref);
  return ref;
}

async function turn(s: SessionHost, batch: InboxRow[], gen: number, turnId: string, session: string): Promise<TurnOutcome> {
  const agent = (s.binding() as SessionBinding).agent;
  const key = (s.binding() as SessionBinding).key;
  // Checked again right before the turn: a revocation may have landed during this alarm.
  if ((await tenantStatus(s.env, agent.tenantId)) !== "live") return { status: "tenant_not_live" };
  const messages = batch.map((r) => JSON.parse(r.message) as InboundMessage);
  const last = messages[messages.length - 1] as InboundMessage;
  const attempts = (batch[batch.length - 1] as InboxRow).attempts + 1;
  for (const r of batch) s.sql.exec("UPDATE inbox SET attempts = attempts + 1 WHERE seq = ?", r.seq);

  if (last.command === "reset") {
    s.sql.exec("DELETE FROM history");
    finish(s, batch, last, RESET_TEXT, null);
    return { status: "command" };
  }
  if (last.command === "start") {
    finish(s, batch, last, START_TEXT, null);
    return { status: "command" };
  }

  const decision = dmDecision(agent, last, s.meta<boolean>("paired") === true);
  if (decision === "ignore") {
    finish(s, batch, last, null, null);
    return { status: "ignored" };
  }
  if (decision === "pair") {
    const state = await pairingState(s.env, { agentId: agent.id, sessionKey: key, message: last, session: s });
    if (gen !== s.generation()) return { status: "superseded" };
    if (!state.approved) {
      finish(s, batch, last, pairingPrompt(state.code), null);
      return { status: "pairing" };
    }
    s.setMeta("paired", true);
  }
  await register(s, agent, key, last, session);

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
      requestId: turnId,
      sessionKey: key,
      channel: last.channel,
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
    if (gen !== s.generation()) return { status: "superseded" };
    const err = failure?.err;
    const error = errorText(err);
    console.error(JSON.stringify({ level: "warn", msg: "session turn: model call failed", session, turn_id: turnId, attempts, error: String(err) }));
    if (attempts >= MAX_MODEL_ATTEMPTS) {
      finish(s, batch, last, FAILURE_TEXT, null);
      return { status: "failed", error };
    }
    const retryAt = Date.now() + modelBackoffMs(s.env, attempts);
    for (const r of batch) s.sql.exec("UPDATE inbox SET next_at = ? WHERE seq = ?", retryAt, r.seq);
    return { status: "retry", error };
  }
  const tokens = { input: reply.usage.promptTokens, output: reply.usage.completionTokens };
  if (gen !== s.generation()) return { status: "superseded", tokens };
  s.setMeta("model_used", reply.target);
  finish(s, batch, last, reply.text.trim(), userText);
  return { status: "answered", tokens };
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
async function register(s: SessionHost, agent: AgentConfig, key: string, m: InboundMessage, session: string): Promise<void> {
  if (s.meta<boolean>("registered")) return;
  try {
    await s.env.DB.prepare("INSERT OR IGNORE INTO sessions (key, tenant_id, agent_id, channel, account_id, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(key, agent.tenantId, agent.id, m.channel, m.accountId, s.meta<number>("created_at") ?? Date.now())
      .run();
    s.setMeta("registered", true);
  } catch (err) {
    console.error(JSON.stringify({ level: "warn", msg: "session index write failed", session, error: String(err) }));
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
  const session = logRef(s);
  let summary: string | null = null;
  try {
    summary = await summarize(s.env, agent, plan.older, {
      requestId: `compact-${crypto.randomUUID()}`,
      sessionKey: key,
      channel: (s.binding() as SessionBinding).account.channel,
      waitUntil: (p) => s.ctx.waitUntil(p),
    });
  } catch (err) {
    // Staying within the budget matters more than the summary: the older turns are dropped.
    console.error(JSON.stringify({ level: "warn", msg: "history summary failed; older turns dropped", session, error: String(err) }));
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
