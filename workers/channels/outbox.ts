// A session's outbox (docs/channels.md, "Message lifecycle"): durable send intents sent head
// first, one at a time; a receipt on success, a retry with backoff on a retryable failure, a dead
// letter (indexed in D1 for /admin/dead-letters) after MAX_SEND_ATTEMPTS or at once for a
// non-retryable one, and nothing at all for a revoked or unknown tenant. The session Durable
// Object (durable-objects/session.ts) owns the rows and the order; its alarm (sends) and its
// notify RPC (proactive messages) call these. An intent with editMessageId is a streamed reply's
// final edit (./stream-reply.ts): it goes through adapter.edit in its place in line, with the
// same limits, retries and dead letters as a send; rows still 'streaming' are not sent from here.
import { REVOKED_SEND_ERROR, type OutboxRow, type Row, type SessionBinding, type SessionHost } from "../../durable-objects/session-store.ts";
import { estimateTokens, MAX_SEND_ATTEMPTS, sendBackoffMs } from "../agents/turn.ts";
import { withSpan } from "../observability/trace.ts";
import { tenantStatus } from "../tenants/liveness.ts";
import { auditDeadLettered, auditSent } from "./audit-events.ts";
import { channelAdapters, splitForChannel } from "./index.ts";
import { accountSendWait, heldSlotAt, pauseAccount } from "./send-limits.ts";
import type { AccountConfig, SendIntent } from "./types.ts";

// A proactive message (the session's notify RPC): its send intents under the caller's
// idempotency key, after the replies already queued, and its assistant turn in the history.
export async function queueProactive(s: SessionHost, idempotencyKey: string, text: string): Promise<"queued" | "duplicate" | "unbound"> {
  const bound = s.binding();
  const target = s.meta<{ chatId: string; threadId: string | null; callbackUrl: string | null }>("target");
  if (!bound || !target) return "unbound";
  const parts = splitForChannel(bound.account.channel, text.trim());
  if (s.sql.exec("SELECT 1 FROM outbox WHERE intent_key = ?", `${idempotencyKey}:0`).toArray().length > 0) return "duplicate";
  const now = Date.now();
  s.ctx.storage.transactionSync(() => {
    s.sql.exec("INSERT INTO history (role, content, tokens, at) VALUES ('assistant', ?, ?, ?)", text.trim(), estimateTokens(text.trim()), now);
    parts.forEach((part, i) => {
      const intent: Omit<SendIntent, "key"> = { ...target, replyToId: null, inReplyTo: idempotencyKey, text: part };
      s.sql.exec(
        "INSERT INTO outbox (intent_key, in_reply_to, intent, state, next_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
        `${idempotencyKey}:${i}`,
        idempotencyKey,
        JSON.stringify(intent),
        now,
        now,
      );
    });
  });
  await s.wake(now);
  return "queued";
}

// The earliest time the next send may go (0: now): the per-chat limiter's, or a later slot this
// session holds under the account-wide limit (./send-limits.ts).
export function nextSendSlot(s: SessionHost): number {
  const account = s.binding()?.account ?? null;
  const lastSend = s.meta<number>("last_send_at");
  const held = heldSlotAt(s);
  if (!account || lastSend === null) return held;
  return Math.max(held, lastSend + (account.sendIntervalMs ?? channelAdapters[account.channel].minSendIntervalMs));
}

export async function flushOutbox(s: SessionHost, gen: number): Promise<void> {
  for (;;) {
    const head = s.sql.exec<OutboxRow & Row>("SELECT id, intent, attempts, next_at, sending FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1").toArray()[0];
    const now = Date.now();
    // An attempt of this instance is still in flight: it records its own outcome.
    if (!head || head.sending === s.life) return;
    const account = (s.binding() as SessionBinding).account;
    const key = (s.binding() as SessionBinding).key;
    // An attempt that another instance started and never finished (a crash or an eviction cut
    // it): the platform may or may not have the message. "drop" (at most once) makes it a dead
    // letter now, without waiting for a send slot; "resend" (at least once) sends it again below.
    if (head.sending !== null && account.inDoubt === "drop") {
      await deadLetter(s, key, head.id, account, head.attempts, IN_DOUBT_CUT);
      continue;
    }
    if (head.next_at > now || nextSendSlot(s) > now) return;
    const intent: SendIntent = { ...(JSON.parse(head.intent) as Omit<SendIntent, "key">), key: `${key}#${head.id}` };
    const attempts = head.attempts + 1;
    // Before every send: nothing goes out for a revoked or unknown tenant.
    if ((await tenantStatus(s.env, account.tenantId)) !== "live") {
      if (gen !== s.generation()) return;
      await deadLetter(s, key, head.id, account, head.attempts, REVOKED_SEND_ERROR);
      continue;
    }
    // The account-wide limit (every chat of the bot together): when its slot is later, the
    // intent stays at the head and the alarm (scheduleNext, via nextSendSlot) comes back then.
    if ((await accountSendWait(s, account)) > 0 || gen !== s.generation()) return;
    // Counted and marked in flight before the call: a crash during it still uses up an attempt,
    // and the next instance knows the outcome is unknown.
    s.sql.exec("UPDATE outbox SET attempts = ?, sending = ? WHERE id = ?", attempts, s.life, head.id);
    const adapter = channelAdapters[account.channel];
    const ctx = { env: s.env, sockets: s.ctx.getWebSockets(), lastInboundAt: () => s.sql.exec<{ t: number | null }>("SELECT MAX(received_at) AS t FROM inbox").one().t };
    const editMessageId = adapter.edit ? (intent.editMessageId ?? null) : null;
    // A span only inside a traced context (an alarm has none: then it costs nothing).
    const attrs = { "edgeclaw.channel": account.channel, "edgeclaw.account_id": account.id, "edgeclaw.intent_id": head.id, "edgeclaw.attempt": attempts, "edgeclaw.edit": editMessageId !== null };
    const result = await withSpan("channel.outbox_send", "client", attrs, async (span) => {
      const r = editMessageId !== null ? await (adapter.edit as NonNullable<typeof adapter.edit>)({ ...intent, editMessageId }, account, ctx) : await adapter.send(intent, account, ctx);
      if (!r.ok) span?.fail(r.retryable ? "send_failed_retryable" : "send_failed");
      return r;
    });
    if (gen !== s.generation()) return;
    const at = Date.now();
    if (result.ok) {
      s.sql.exec("UPDATE outbox SET state = 'sent', receipt = ?, sent_at = ?, last_error = NULL, sending = NULL WHERE id = ?", result.receipt, at, head.id);
      s.setMeta("last_send_at", at);
      auditSent(s.env, key, account, head.id, attempts, editMessageId !== null ? "edit" : "send");
      continue;
    }
    // No answer came back (connection failed or timed out, answer unreadable): at most once
    // means no second try.
    if (result.inDoubt && account.inDoubt === "drop") {
      await deadLetter(s, key, head.id, account, attempts, `${IN_DOUBT_NO_ANSWER}${result.error}`);
      continue;
    }
    s.sql.exec("UPDATE outbox SET sending = NULL WHERE id = ?", head.id);
    // A rate-limit answer the adapter says is about the bot, not this chat: pause them all.
    if (result.retryable && result.retryAfterMs !== null && result.accountWide) await pauseAccount(s, account, result.retryAfterMs);
    if (gen !== s.generation()) return;
    // The streamed message cannot be edited any more (deleted by the user, past the platform's
    // edit window): the whole text goes as a new message instead of a dead letter.
    if (editMessageId !== null && !result.retryable) {
      const { key: _key, ...stored } = intent;
      s.sql.exec("UPDATE outbox SET intent = ?, last_error = ? WHERE id = ?", JSON.stringify({ ...stored, editMessageId: null }), result.error, head.id);
      console.warn(JSON.stringify({ level: "warn", msg: "final edit refused; sending the reply as a new message", session: key, intent: head.id, error: result.error }));
      continue;
    }
    if (result.retryable && attempts < MAX_SEND_ATTEMPTS) {
      s.sql.exec("UPDATE outbox SET next_at = ?, last_error = ? WHERE id = ?", at + sendBackoffMs(s.env, attempts, result.retryAfterMs), result.error, head.id);
      return;
    }
    await deadLetter(s, key, head.id, account, attempts, result.error);
  }
}

// The dead-letter errors of the "drop" policy (their head, "in doubt", is a fixed error class in
// the audit row: ./audit-events.ts).
export const IN_DOUBT_CUT = "in doubt: the send was cut before its answer was stored (account in_doubt: drop, not resent)";
// A `sending` mark no instance owns: an attempt known to be in doubt (a streamed reply's first
// post that got no answer under "drop").
export const IN_DOUBT_MARK = "in-doubt";
export const IN_DOUBT_NO_ANSWER = "in doubt: no answer (account in_doubt: drop, not resent): ";

export async function deadLetter(s: SessionHost, key: string, intentId: number, account: AccountConfig, attempts: number, error: string): Promise<void> {
  s.sql.exec("UPDATE outbox SET state = 'dead', last_error = ?, sending = NULL WHERE id = ?", error, intentId);
  auditDeadLettered(s.env, key, account, intentId, attempts, error);
  await indexDeadLetter(s, key, intentId, account, attempts, error);
}

async function indexDeadLetter(s: SessionHost, key: string, intentId: number, account: AccountConfig, attempts: number, error: string): Promise<void> {
  try {
    await s.env.DB.prepare(
      "INSERT OR REPLACE INTO dead_letters (id, tenant_id, session_key, intent_id, channel, attempts, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
      .bind(`${key}#${intentId}`, account.tenantId, key, intentId, account.channel, attempts, error.slice(0, 500), Date.now())
      .run();
  } catch (err) {
    console.error(JSON.stringify({ level: "error", msg: "dead letter index write failed", session: key, intent: intentId, error: String(err) }));
  }
}
