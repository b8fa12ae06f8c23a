// ChatSession: one Durable Object per session key (agent + channel + account + peer or group
// [+ thread]). It owns the conversation and its message lifecycle, in its own SQLite:
//   meta       session context, agent and account config (latest seen), profile, last activity
//   inbox      every accepted message, unique by the platform's message id (the dedupe record),
//              queued until its turn has written the reply
//   history    the context stack (user/assistant turns and summaries) with token estimates
//   outbox     durable send intents, one per reply part, sent in order; receipts and dead letters
//   snapshots  saved copies of history + profile
// Order and exactly-once:
//   accept()   records the message (or recognises the duplicate) and sets the alarm; the Worker
//              acknowledges the webhook only after it returns (the write is durable by then)
//   alarm()    runs turns one at a time in arrival order, writing each reply to the outbox in the
//              same transaction that marks its messages answered, and sends the outbox head
//              first; a watchdog alarm is set before any work, so a crash mid-turn is resumed
// Guards (docs/channels.md): a revoked or unknown tenant's queued messages are refused before any
// model call and its pending sends dead-lettered before any send; accept() enforces the
// session's message rate, its inbox cap and (for a session's first message) the account's
// new-session cap; dead letters outlive the session's expiry for DEAD_LETTER_RETENTION_S.
// The decisions (policy, context, compaction, backoff) live in workers/agents/turn.ts; the
// platforms behind workers/channels/.
import { DurableObject } from "cloudflare:workers";
import type { InboundMessage } from "../schema/channels.ts";
import type { AgentConfig } from "../workers/agents/config.ts";
import { callModel } from "../workers/agents/model-call.ts";
import { pairingState } from "../workers/agents/pairing.ts";
import {
  compactionPlan,
  contextFor,
  dmDecision,
  estimateTokens,
  FAILURE_TEXT,
  MAX_MODEL_ATTEMPTS,
  MAX_SEND_ATTEMPTS,
  mergedText,
  modelBackoffMs,
  pairingPrompt,
  RESET_TEXT,
  sendBackoffMs,
  splitReply,
  START_TEXT,
  summarize,
  type HistoryEntry,
} from "../workers/agents/turn.ts";
import { channelAdapters } from "../workers/channels/index.ts";
import type { AccountConfig, SendIntent } from "../workers/channels/types.ts";
import { webchat } from "../workers/channels/webchat.ts";
import { accountIngressAllowed, channelLimitsOf, INGRESS_WINDOW_S, takeExact, takeToken, type TokenBucket } from "../workers/channels/limits.ts";
import type { Env } from "../workers/env.ts";
import { tenantStatus } from "../workers/tenants/liveness.ts";
import {
  deadLetterRetentionMs,
  DEDUPE_WINDOW_MS,
  INBOX_FULL_RETRY_MS,
  LEASE_MS,
  refused,
  REVOKED_SEND_ERROR,
  SCHEMA,
  type AcceptResult,
  type InboxRow,
  type OutboxRow,
  type Row,
  type RunStatus,
  type SessionBinding,
} from "./session-store.ts";

export type { AcceptResult, RunStatus, SessionBinding } from "./session-store.ts";

export class ChatSession extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  // Bumped by erase/expiry: work that started before must not write afterwards.
  private generation = 0;
  private alarmAt: number | null | undefined;
  private bound: { fingerprint: string; key: string; agent: AgentConfig; account: AccountConfig } | null = null;
  private prunedAt = 0;
  private target: string | null = null;
  // A first message's new-session admission in flight: concurrent first messages share it, so
  // one new session costs the account one unit of its cap.
  private admitting: Promise<number | null> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  // ---- meta -------------------------------------------------------------------------------------
  private meta<T>(k: string): T | null {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0];
    return row ? (JSON.parse(row.v) as T) : null;
  }

  private setMeta(k: string, v: unknown): void {
    this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, JSON.stringify(v));
  }

  // The latest agent and account config the Worker resolved; written only when it changed, and
  // kept in memory (read back from meta after an eviction).
  private bind(b: SessionBinding): void {
    const fingerprint = JSON.stringify({ key: b.key, agent: b.agent, account: b.account });
    if (fingerprint === this.bound?.fingerprint) return;
    this.setMeta("key", b.key);
    this.setMeta("agent", b.agent);
    this.setMeta("account", b.account);
    if (this.meta("created_at") === null) this.setMeta("created_at", Date.now());
    this.bound = { fingerprint, key: b.key, agent: b.agent, account: b.account };
  }

  private binding(): { key: string; agent: AgentConfig; account: AccountConfig } | null {
    if (this.bound) return this.bound;
    const key = this.meta<string>("key");
    const agent = this.meta<AgentConfig>("agent");
    const account = this.meta<AccountConfig>("account");
    if (key === null || agent === null || account === null) return null;
    this.bound = { fingerprint: JSON.stringify({ key, agent, account }), key, agent, account };
    return this.bound;
  }

  private async wake(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  // ---- inbound ----------------------------------------------------------------------------------
  async accept(binding: SessionBinding, message: InboundMessage): Promise<AcceptResult> {
    const found = this.sql.exec<{ seq: number }>("SELECT seq FROM inbox WHERE msg_id = ?", message.messageId).toArray()[0];
    if (found) return { status: "duplicate", seq: found.seq };
    const limits = channelLimitsOf(binding.account.limits);
    if (this.meta<number>("created_at") === null) {
      const wait = await this.admitNewSession(binding.account.id, limits.new_sessions_per_min);
      if (wait !== null) return refused("too_many_new_sessions", "This account opens too many new conversations; try again later.", wait);
    }
    const queued = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox WHERE state = 'queued'").one().n;
    if (queued >= limits.inbox_max) return refused("inbox_full", `This conversation already has ${queued} messages waiting for an answer.`, INBOX_FULL_RETRY_MS);
    const wait = this.takePeerToken(limits.peer_messages_per_min, limits.peer_burst);
    if (wait !== null) return refused("session_rate_limited", "Too many messages in this conversation; slow down.", wait);
    const now = Date.now();
    const seq = this.ctx.storage.transactionSync(() => {
      this.bind(binding);
      this.setMeta("last_active", now);
      this.setMeta("profile", { ...this.meta<Record<string, unknown>>("profile"), ...message.sender, channel: message.channel });
      // Where proactive messages (notify) go: the conversation's latest place.
      const target = JSON.stringify({ chatId: message.chatId, threadId: message.threadId, callbackUrl: message.callbackUrl });
      if (target !== this.target) {
        this.sql.exec("INSERT INTO meta (k, v) VALUES ('target', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", target);
        this.target = target;
      }
      return this.sql
        .exec<{ seq: number }>(
          "INSERT INTO inbox (msg_id, message, state, next_at, received_at) VALUES (?, ?, 'queued', ?, ?) RETURNING seq",
          message.messageId,
          JSON.stringify(message),
          now,
          now,
        )
        .one().seq;
    });
    await this.wake(now);
    return { status: "accepted", seq };
  }

  // The account's new-session cap (exact, in a RateLimiter Durable Object): null when admitted.
  private admitNewSession(accountId: string, perMin: number): Promise<number | null> {
    if (!this.admitting) {
      this.admitting = takeExact(this.env, `chan-sessions:${accountId}`, perMin).finally(() => {
        this.admitting = null;
      });
    }
    return this.admitting;
  }

  // The session's own message rate: a token bucket of `burst` messages refilling at `perMin`,
  // kept in meta (the object serialises accepts, so it is exact). null when a token was taken.
  private takePeerToken(perMin: number, burst: number): number | null {
    const taken = takeToken(this.meta<TokenBucket>("peer_bucket"), Date.now(), perMin, burst);
    this.setMeta("peer_bucket", taken.bucket);
    return taken.waitMs;
  }

  // A proactive message (a scheduled reminder, a heartbeat's answer): one send intent on the
  // outbox under the caller's idempotency key, in order after the replies already queued, and
  // an assistant turn in the history. "unbound": the session has had no conversation yet.
  async notify(idempotencyKey: string, text: string): Promise<"queued" | "duplicate" | "unbound"> {
    const bound = this.binding();
    const target = this.meta<{ chatId: string; threadId: string | null; callbackUrl: string | null }>("target");
    if (!bound || !target) return "unbound";
    const parts = splitReply(text.trim(), channelAdapters[bound.account.channel].maxTextLength);
    if (this.sql.exec("SELECT 1 FROM outbox WHERE intent_key = ?", `${idempotencyKey}:0`).toArray().length > 0) return "duplicate";
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO history (role, content, tokens, at) VALUES ('assistant', ?, ?, ?)", text.trim(), estimateTokens(text.trim()), now);
      parts.forEach((part, i) => {
        const intent: Omit<SendIntent, "key"> = { ...target, replyToId: null, inReplyTo: idempotencyKey, text: part };
        this.sql.exec(
          "INSERT INTO outbox (intent_key, in_reply_to, intent, state, next_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
          `${idempotencyKey}:${i}`,
          idempotencyKey,
          JSON.stringify(intent),
          now,
          now,
        );
      });
    });
    await this.wake(now);
    return "queued";
  }

  // The outcome of one inbound message (hook polling).
  async runStatus(messageId: string): Promise<RunStatus | null> {
    const row = this.sql
      .exec<{ state: string; reply: string | null; received_at: number; done_at: number | null }>(
        "SELECT state, reply, received_at, done_at FROM inbox WHERE msg_id = ?",
        messageId,
      )
      .toArray()[0];
    return row ? { state: row.state as RunStatus["state"], reply: row.reply, received_at: row.received_at, done_at: row.done_at } : null;
  }

  // ---- the pump -----------------------------------------------------------------------------------
  async alarm(): Promise<void> {
    const gen = this.generation;
    this.alarmAt = Date.now() + LEASE_MS;
    await this.ctx.storage.setAlarm(this.alarmAt);
    for (;;) {
      if (gen !== this.generation) return;
      if (await this.haltIfTenantGone(gen)) break;
      await this.flushOutbox(gen);
      if (gen !== this.generation) return;
      if (await this.compactIfNeeded(gen)) continue;
      const batch = this.dueBatch(Date.now());
      if (batch.length === 0) break;
      await this.runTurn(batch, gen);
    }
    if (gen !== this.generation) return;
    await this.scheduleNext();
  }

  // A revoked (or unknown) tenant's session makes no model call and sends nothing: its queued
  // messages are marked refused and its pending sends dead-lettered with the reason (an admin
  // sees them; a retry after revocation dead-letters again). true when it halted.
  private async haltIfTenantGone(gen: number): Promise<boolean> {
    const bound = this.binding();
    if (!bound || (await tenantStatus(this.env, bound.account.tenantId)) === "live") return false;
    if (gen !== this.generation) return true;
    const now = Date.now();
    const refusedCount = this.sql.exec("UPDATE inbox SET state = 'refused', done_at = ? WHERE state = 'queued'", now).rowsWritten;
    const pending = this.sql.exec<{ id: number; attempts: number }>("SELECT id, attempts FROM outbox WHERE state = 'pending' ORDER BY id").toArray();
    for (const p of pending) await this.deadLetter(bound.key, p.id, bound.account, p.attempts, REVOKED_SEND_ERROR);
    if (refusedCount > 0 || pending.length > 0) {
      console.warn(JSON.stringify({ level: "warn", msg: "tenant not live: session halted", session: bound.key, refused: refusedCount, dead: pending.length }));
    }
    return true;
  }

  private async scheduleNext(): Promise<void> {
    const now = Date.now();
    const inbox = this.sql.exec<{ t: number | null }>("SELECT MIN(next_at) AS t FROM inbox WHERE state = 'queued'").one().t;
    const head = this.sql.exec<{ next_at: number }>("SELECT next_at FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1").toArray()[0];
    let next: number | null = inbox;
    if (head) {
      const sendAt = Math.max(head.next_at, this.nextSendSlot());
      next = next === null ? sendAt : Math.min(next, sendAt);
    }
    if (next === null) {
      const agent = this.binding()?.agent ?? null;
      const lastActive = this.meta<number>("last_active");
      if (!agent || lastActive === null) {
        this.alarmAt = null;
        await this.ctx.storage.deleteAlarm();
        return;
      }
      const expiresAt = lastActive + agent.sessionTtlS * 1000;
      if (expiresAt <= now) return this.expire();
      next = expiresAt;
    }
    this.prune(now);
    this.alarmAt = Math.max(next, now);
    await this.ctx.storage.setAlarm(this.alarmAt);
  }

  // At most hourly per object: dedupe records and sent intents past the window.
  private prune(now: number): void {
    if (now - this.prunedAt < 3_600_000) return;
    this.prunedAt = now;
    this.sql.exec("DELETE FROM inbox WHERE state != 'queued' AND done_at < ?", now - DEDUPE_WINDOW_MS);
    this.sql.exec("DELETE FROM outbox WHERE state IN ('sent', 'dropped') AND created_at < ?", now - DEDUPE_WINDOW_MS);
  }

  // Messages whose turn is due: the oldest one, or (merge_queued) every queued one.
  private dueBatch(now: number): InboxRow[] {
    const first = this.sql
      .exec<InboxRow & { next_at: number } & Row>("SELECT seq, msg_id, message, attempts, next_at FROM inbox WHERE state = 'queued' ORDER BY seq LIMIT 1")
      .toArray()[0];
    // A message waiting for a model retry holds the ones behind it: order is kept.
    if (!first || first.next_at > now) return [];
    const agent = this.binding()?.agent ?? null;
    if (!agent?.mergeQueued) return [first];
    return this.sql.exec<InboxRow & Row>("SELECT seq, msg_id, message, attempts FROM inbox WHERE state = 'queued' ORDER BY seq LIMIT 50").toArray();
  }

  private history(): HistoryEntry[] {
    return this.sql
      .exec<{ seq: number; role: string; content: string; tokens: number; summary: number }>("SELECT seq, role, content, tokens, summary FROM history ORDER BY seq")
      .toArray()
      .map((r) => ({ seq: r.seq, role: r.role as HistoryEntry["role"], content: r.content, tokens: r.tokens, summary: r.summary === 1 }));
  }

  private broadcast(frame: unknown): void {
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
      } catch {
        // closed meanwhile
      }
    }
  }

  private async runTurn(batch: InboxRow[], gen: number): Promise<void> {
    const agent = (this.binding() as SessionBinding).agent;
    const key = (this.binding() as SessionBinding).key;
    // Checked again right before the turn: a revocation may have landed during this alarm.
    if ((await tenantStatus(this.env, agent.tenantId)) !== "live") return;
    const messages = batch.map((r) => JSON.parse(r.message) as InboundMessage);
    const last = messages[messages.length - 1] as InboundMessage;
    const attempts = (batch[batch.length - 1] as InboxRow).attempts + 1;
    for (const r of batch) this.sql.exec("UPDATE inbox SET attempts = attempts + 1 WHERE seq = ?", r.seq);

    if (last.command === "reset") {
      this.sql.exec("DELETE FROM history");
      return this.finish(batch, last, RESET_TEXT, null);
    }
    if (last.command === "start") return this.finish(batch, last, START_TEXT, null);

    const decision = dmDecision(agent, last, this.meta<boolean>("paired") === true);
    if (decision === "ignore") return this.finish(batch, last, null, null);
    if (decision === "pair") {
      const state = await pairingState(this.env, { agentId: agent.id, sessionKey: key, message: last });
      if (gen !== this.generation) return;
      if (!state.approved) return this.finish(batch, last, pairingPrompt(state.code), null);
      this.setMeta("paired", true);
    }
    await this.register(agent, key, last);

    const userText = mergedText(messages);
    let reply;
    try {
      reply = await callModel(this.env, {
        tenantId: agent.tenantId,
        agentId: agent.id,
        model: agent.model,
        messages: contextFor(agent, this.history(), userText),
        maxTokens: agent.maxReplyTokens,
        requestId: `turn-${crypto.randomUUID()}`,
        sessionKey: key,
        onDelta: (text) => this.broadcast({ type: "delta", reply_to: last.messageId, text }),
        waitUntil: (p) => this.ctx.waitUntil(p),
      });
    } catch (err) {
      if (gen !== this.generation) return;
      console.error(JSON.stringify({ level: "warn", msg: "session turn: model call failed", session: key, attempts, error: String(err) }));
      if (attempts >= MAX_MODEL_ATTEMPTS) return this.finish(batch, last, FAILURE_TEXT, null);
      const retryAt = Date.now() + modelBackoffMs(this.env, attempts);
      for (const r of batch) this.sql.exec("UPDATE inbox SET next_at = ? WHERE seq = ?", retryAt, r.seq);
      return;
    }
    if (gen !== this.generation) return;
    this.setMeta("model_used", reply.target);
    this.finish(batch, last, reply.text.trim(), userText);
  }

  // The one transaction that answers a turn: history, the messages marked answered, and the
  // reply as send intents. `text` null: answered by silence (a sender outside the allowlist).
  private finish(batch: InboxRow[], last: InboundMessage, text: string | null, userText: string | null): void {
    const account = (this.binding() as SessionBinding).account;
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      if (userText !== null && text !== null) {
        this.sql.exec("INSERT INTO history (role, content, tokens, at) VALUES ('user', ?, ?, ?)", userText, estimateTokens(userText), now);
        this.sql.exec("INSERT INTO history (role, content, tokens, at) VALUES ('assistant', ?, ?, ?)", text, estimateTokens(text), now);
      }
      for (const r of batch) {
        this.sql.exec(
          "UPDATE inbox SET state = ?, reply = ?, done_at = ? WHERE seq = ?",
          text === null ? "ignored" : "done",
          text,
          now,
          r.seq,
        );
      }
      if (text === null) return;
      const parts = splitReply(text, channelAdapters[account.channel].maxTextLength);
      parts.forEach((part, i) => {
        const intent: Omit<SendIntent, "key"> = {
          chatId: last.chatId,
          threadId: last.threadId,
          replyToId: i === 0 ? last.replyToId : null,
          inReplyTo: last.messageId,
          text: part,
          callbackUrl: last.callbackUrl,
        };
        this.sql.exec(
          "INSERT OR IGNORE INTO outbox (intent_key, in_reply_to, intent, state, next_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
          `reply:${last.messageId}:${i}`,
          last.messageId,
          JSON.stringify(intent),
          now,
          now,
        );
      });
      this.setMeta("last_active", now);
    });
  }

  // The D1 index row the admin API lists sessions from (once; off the webhook path).
  private async register(agent: AgentConfig, key: string, m: InboundMessage): Promise<void> {
    if (this.meta<boolean>("registered")) return;
    try {
      await this.env.DB.prepare("INSERT OR IGNORE INTO sessions (key, tenant_id, agent_id, channel, account_id, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(key, agent.tenantId, agent.id, m.channel, m.accountId, this.meta<number>("created_at") ?? Date.now())
        .run();
      this.setMeta("registered", true);
    } catch (err) {
      console.error(JSON.stringify({ level: "warn", msg: "session index write failed", session: key, error: String(err) }));
    }
  }

  private async compactIfNeeded(gen: number): Promise<boolean> {
    const agent = this.binding()?.agent ?? null;
    if (!agent) return false;
    const total = this.sql.exec<{ n: number | null }>("SELECT SUM(tokens) AS n FROM history").one().n ?? 0;
    if (total <= agent.historyTokenBudget) return false;
    const plan = compactionPlan(this.history(), agent.historyTokenBudget);
    if (!plan) return false;
    const key = (this.binding() as SessionBinding).key;
    let summary: string | null = null;
    try {
      summary = await summarize(this.env, agent, plan.older, {
        requestId: `compact-${crypto.randomUUID()}`,
        sessionKey: key,
        waitUntil: (p) => this.ctx.waitUntil(p),
      });
    } catch (err) {
      // Staying within the budget matters more than the summary: the older turns are dropped.
      console.error(JSON.stringify({ level: "warn", msg: "history summary failed; older turns dropped", session: key, error: String(err) }));
    }
    if (gen !== this.generation) return false;
    const upTo = (plan.older[plan.older.length - 1] as HistoryEntry).seq;
    const first = (plan.older[0] as HistoryEntry).seq;
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM history WHERE seq <= ?", upTo);
      // The summary takes the place of the oldest replaced entry, so it sorts first.
      if (summary) this.sql.exec("INSERT INTO history (seq, role, content, tokens, summary, at) VALUES (?, 'system', ?, ?, 1, ?)", first, summary, estimateTokens(summary), Date.now());
    });
    return true;
  }

  // ---- outbound ---------------------------------------------------------------------------------
  private nextSendSlot(): number {
    const account = this.binding()?.account ?? null;
    const lastSend = this.meta<number>("last_send_at");
    if (!account || lastSend === null) return 0;
    return lastSend + (account.sendIntervalMs ?? channelAdapters[account.channel].minSendIntervalMs);
  }

  private async flushOutbox(gen: number): Promise<void> {
    for (;;) {
      const head = this.sql.exec<OutboxRow & Row>("SELECT id, intent, attempts, next_at FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1").toArray()[0];
      const now = Date.now();
      if (!head || head.next_at > now || this.nextSendSlot() > now) return;
      const account = (this.binding() as SessionBinding).account;
      const key = (this.binding() as SessionBinding).key;
      const intent: SendIntent = { ...(JSON.parse(head.intent) as Omit<SendIntent, "key">), key: `${key}#${head.id}` };
      const attempts = head.attempts + 1;
      // Before every send: nothing goes out for a revoked or unknown tenant.
      if ((await tenantStatus(this.env, account.tenantId)) !== "live") {
        if (gen !== this.generation) return;
        await this.deadLetter(key, head.id, account, head.attempts, REVOKED_SEND_ERROR);
        continue;
      }
      // Counted before the call: a crash during it still uses up an attempt.
      this.sql.exec("UPDATE outbox SET attempts = ? WHERE id = ?", attempts, head.id);
      const result = await channelAdapters[account.channel].send(intent, account, { env: this.env, sockets: this.ctx.getWebSockets() });
      if (gen !== this.generation) return;
      const at = Date.now();
      if (result.ok) {
        this.sql.exec("UPDATE outbox SET state = 'sent', receipt = ?, sent_at = ?, last_error = NULL WHERE id = ?", result.receipt, at, head.id);
        this.setMeta("last_send_at", at);
        continue;
      }
      if (result.retryable && attempts < MAX_SEND_ATTEMPTS) {
        this.sql.exec("UPDATE outbox SET next_at = ?, last_error = ? WHERE id = ?", at + sendBackoffMs(this.env, attempts, result.retryAfterMs), result.error, head.id);
        return;
      }
      await this.deadLetter(key, head.id, account, attempts, result.error);
    }
  }

  private async deadLetter(key: string, intentId: number, account: AccountConfig, attempts: number, error: string): Promise<void> {
    this.sql.exec("UPDATE outbox SET state = 'dead', last_error = ? WHERE id = ?", error, intentId);
    await this.indexDeadLetter(key, intentId, account, attempts, error);
  }

  private async indexDeadLetter(key: string, intentId: number, account: AccountConfig, attempts: number, error: string): Promise<void> {
    try {
      await this.env.DB.prepare(
        "INSERT OR REPLACE INTO dead_letters (id, tenant_id, session_key, intent_id, channel, attempts, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      )
        .bind(`${key}#${intentId}`, account.tenantId, key, intentId, account.channel, attempts, error.slice(0, 500), Date.now())
        .run();
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "dead letter index write failed", session: key, intent: intentId, error: String(err) }));
    }
  }

  // Admin: a dead intent goes back to the head of the line (its id keeps its place in order).
  async retryDead(intentId: number): Promise<boolean> {
    const changed = this.sql.exec("UPDATE outbox SET state = 'pending', attempts = 0, next_at = ? WHERE id = ? AND state = 'dead'", Date.now(), intentId).rowsWritten;
    if (changed > 0) await this.wake(Date.now());
    return changed > 0;
  }

  async dropDead(intentId: number): Promise<boolean> {
    return this.sql.exec("UPDATE outbox SET state = 'dropped' WHERE id = ? AND state = 'dead'", intentId).rowsWritten > 0;
  }

  // Admin: an approved pairing takes effect for the next message.
  async approvePairing(): Promise<void> {
    this.setMeta("paired", true);
  }

  // ---- export, snapshots, erase, expiry ---------------------------------------------------------
  async exportState(): Promise<Record<string, unknown>> {
    const rows = (q: string) => this.sql.exec(q).toArray();
    return {
      key: this.meta("key"),
      agent_id: this.binding()?.agent.id ?? null,
      account_id: this.binding()?.account.id ?? null,
      created_at: this.meta("created_at"),
      last_active: this.meta("last_active"),
      model_used: this.meta("model_used"),
      paired: this.meta("paired") === true,
      profile: this.meta("profile"),
      history: rows("SELECT seq, role, content, tokens, summary, at FROM history ORDER BY seq"),
      inbox: rows("SELECT seq, msg_id, state, attempts, received_at, done_at, reply FROM inbox ORDER BY seq"),
      outbox: rows("SELECT id, intent_key, in_reply_to, intent, state, attempts, last_error, receipt, created_at, sent_at FROM outbox ORDER BY id"),
      snapshots: rows("SELECT id, at FROM snapshots ORDER BY id"),
    };
  }

  async snapshot(): Promise<{ id: number; at: number }> {
    const at = Date.now();
    const body = JSON.stringify({ history: this.history(), profile: this.meta("profile") });
    const id = this.sql.exec<{ id: number }>("INSERT INTO snapshots (at, body) VALUES (?, ?) RETURNING id", at, body).one().id;
    return { id, at };
  }

  async restore(snapshotId: number): Promise<boolean> {
    const row = this.sql.exec<{ body: string }>("SELECT body FROM snapshots WHERE id = ?", snapshotId).toArray()[0];
    if (!row) return false;
    const saved = JSON.parse(row.body) as { history: HistoryEntry[]; profile: unknown };
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM history");
      for (const h of saved.history) {
        this.sql.exec("INSERT INTO history (seq, role, content, tokens, summary, at) VALUES (?, ?, ?, ?, ?, ?)", h.seq, h.role, h.content, h.tokens, h.summary ? 1 : 0, Date.now());
      }
      if (saved.profile !== null) this.setMeta("profile", saved.profile);
    });
    return true;
  }

  // Right to be forgotten: everything this object holds goes, sockets are closed. Returns what
  // was removed (counts only) for the audit row.
  async erase(): Promise<{ messages: number; history: number; outbox: number }> {
    const counts = {
      messages: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox").one().n,
      history: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM history").one().n,
      outbox: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
    };
    await this.wipe();
    return counts;
  }

  private async wipe(): Promise<void> {
    this.generation++;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(4000, "session erased");
      } catch {
        // already closed
      }
    }
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.alarmAt = null;
    this.bound = null;
    this.target = null;
    this.sql.exec(SCHEMA);
  }

  // Expiry ends the conversation, but not an undelivered reply an admin has not seen yet: while
  // dead letters younger than DEAD_LETTER_RETENTION_S remain, the object keeps them (and the
  // binding a retry needs) and drops everything else; it expires fully when the last one is
  // retried, dropped or past retention.
  private async expire(): Promise<void> {
    const keepSince = Date.now() - deadLetterRetentionMs(this.env);
    const oldest = this.sql.exec<{ t: number | null }>("SELECT MIN(created_at) AS t FROM outbox WHERE state = 'dead' AND created_at >= ?", keepSince).one().t;
    if (oldest !== null) {
      this.generation++;
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM history");
        this.sql.exec("DELETE FROM snapshots");
        this.sql.exec("DELETE FROM inbox");
        this.sql.exec("DELETE FROM outbox WHERE state != 'dead' OR created_at < ?", keepSince);
        this.sql.exec("DELETE FROM meta WHERE k NOT IN ('key', 'agent', 'account', 'created_at', 'last_active', 'registered')");
      });
      this.target = null;
      this.alarmAt = oldest + deadLetterRetentionMs(this.env);
      await this.ctx.storage.setAlarm(this.alarmAt);
      return;
    }
    const key = this.binding()?.key ?? null;
    if (key !== null) {
      try {
        await this.env.DB.batch([
          this.env.DB.prepare("DELETE FROM sessions WHERE key = ?").bind(key),
          this.env.DB.prepare("DELETE FROM dead_letters WHERE session_key = ?").bind(key),
        ]);
      } catch (err) {
        console.error(JSON.stringify({ level: "warn", msg: "expired session index cleanup failed", session: key, error: String(err) }));
      }
    }
    await this.wipe();
  }

  // ---- WebChat (WebSocket hibernation) ----------------------------------------------------------
  async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const binding = JSON.parse(decodeURIComponent(request.headers.get("x-edgeclaw-session") ?? "null")) as (SessionBinding & { peer: string }) | null;
    if (!binding) return new Response("missing session binding", { status: 400 });
    // A new visitor id is a new session: the account's cap decides before anything is stored.
    if (this.meta<number>("created_at") === null) {
      const wait = await this.admitNewSession(binding.account.id, channelLimitsOf(binding.account.limits).new_sessions_per_min);
      if (wait !== null) {
        const body = { error: { code: "too_many_new_sessions", message: "This WebChat opens too many new conversations; try again later." } };
        return Response.json(body, { status: 429, headers: { "retry-after": String(Math.ceil(wait / 1000)) } });
      }
    }
    this.bind(binding);
    this.setMeta("last_active", Date.now());
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ peer: binding.peer });
    server.send(
      JSON.stringify({
        type: "history",
        messages: this.history()
          .filter((h) => !h.summary)
          .map((h) => ({ role: h.role, content: h.content })),
      }),
    );
    await this.wake(Date.now());
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const { peer } = ws.deserializeAttachment() as { peer: string };
    const bound = this.binding();
    if (!bound) return ws.close(4001, "session gone");
    const { agent, account, key } = bound;
    // A socket opened before its tenant was revoked gets no further turn.
    if ((await tenantStatus(this.env, account.tenantId)) !== "live") {
      ws.send(JSON.stringify({ type: "error", code: "tenant_revoked", message: "This chat is no longer available." }));
      return ws.close(4003, "tenant revoked");
    }
    if (!(await accountIngressAllowed(this.env, account.id))) {
      ws.send(JSON.stringify({ type: "error", code: "channel_rate_limited", message: "This chat gets too many messages; try again later.", retry_after_ms: INGRESS_WINDOW_S * 1000 }));
      return;
    }
    let message: InboundMessage | null;
    try {
      message = webchat.parse({ headers: new Headers(), body: typeof data === "string" ? data : new TextDecoder().decode(data), peer }, account, Date.now());
    } catch (err) {
      ws.send(JSON.stringify({ type: "error", message: err instanceof Error ? err.message : "invalid frame" }));
      return;
    }
    if (!message) return;
    const result = await this.accept({ key, agent, account }, message);
    if (result.status === "refused") {
      // Not acknowledged: the page keeps the message and may send it again later.
      ws.send(JSON.stringify({ type: "error", id: message.messageId, code: result.code, message: result.message, retry_after_ms: result.retryAfterMs }));
      return;
    }
    ws.send(JSON.stringify({ type: "ack", id: message.messageId, status: result.status }));
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, "closing");
    } catch {
      // already closed
    }
  }
}
