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
// The logic it calls lives in workers/: the decisions (policy, context, compaction, backoff) in
// workers/agents/turn.ts, a turn and compaction in workers/agents/session-turn.ts, the tenant
// halt in workers/agents/tenant-halt.ts, the admin's reads and changes (export, snapshots, dead
// letters, pairing approval) and an expired session's D1 rows in
// workers/agents/session-records.ts; the outbox in workers/channels/outbox.ts, the ingress limits
// in workers/channels/session-ingress.ts, the WebChat sockets in
// workers/channels/webchat-socket.ts, and the platforms behind workers/channels/.
import { DurableObject } from "cloudflare:workers";
import type { InboundMessage } from "../schema/channels.ts";
import type { AgentConfig } from "../workers/agents/config.ts";
import { approvePairing, dropDeadIntent, exportSession, restoreSnapshot, retryDeadIntent, saveSnapshot, unlistExpiredSession } from "../workers/agents/session-records.ts";
import { compactIfNeeded, runTurn } from "../workers/agents/session-turn.ts";
import { haltIfTenantGone } from "../workers/agents/tenant-halt.ts";
import type { HistoryEntry } from "../workers/agents/turn.ts";
import { auditAccepted } from "../workers/channels/audit-events.ts";
import { DepthMirror } from "../workers/channels/depth.ts";
import { flushOutbox, nextSendSlot, queueProactive } from "../workers/channels/outbox.ts";
import { failSentIntent } from "../workers/channels/receipts.ts";
import type { TokenBucket } from "../workers/channels/limits.ts";
import { NewSessionAdmission, newSessionRefusal, sessionRefusal } from "../workers/channels/session-ingress.ts";
import type { AccountConfig } from "../workers/channels/types.ts";
import { onWebChatClose, onWebChatFrame, openWebChatSocket } from "../workers/channels/webchat-socket.ts";
import type { Env } from "../workers/env.ts";
import {
  bindingVersion,
  deadLetterRetentionMs,
  DEDUPE_WINDOW_MS,
  LEASE_MS,
  ensureSchema,
  SCHEMA_VERSION_KEY,
  type AcceptResult,
  type InboxRow,
  type Row,
  type RunStatus,
  type SessionBinding,
  type SessionHost,
  writeMetaRows,
} from "./session-store.ts";

export type { AcceptResult, RunStatus, SessionBinding } from "./session-store.ts";

// A refusal thrown out of accept()'s transaction, so that its insert is rolled back.
class Refused extends Error {
  readonly result: AcceptResult;
  constructor(result: AcceptResult) {
    super(result.code);
    this.result = result;
  }
}

// Alarm times are whole milliseconds, rounded up. The runtime keeps an alarm in whole ms: one
// asked for at T.4 fires at T, when whatever it was set for (a send retry's jittered next_at of
// T.4) is not due yet, so the run does nothing and sets T.4 again, which the runtime takes for
// the alarm it has just run, and the session sleeps with a reply unsent (seen in
// test/channels/line-delivery.test.ts, "a 429 storm..."). Every time this object sets goes
// through here, so no caller has to round its own.
function alarmTime(at: number): number {
  return Math.ceil(at);
}

export class ChatSession extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  // Bumped by erase/expiry: work that started before must not write afterwards.
  private generation = 0;
  private alarmAt: number | null | undefined;
  private bound: (SessionBinding & { version: string }) | null = null;
  // Copies of the meta accept() reads on every message (undefined: not read since the object
  // started or since a write outside accept()): whether the session has begun, the sender's
  // profile (its JSON as stored) and the session's rate bucket.
  private created: boolean | undefined;
  private profile: string | null | undefined;
  private peerBucket: TokenBucket | null | undefined;
  private prunedAt = 0;
  private target: string | null = null;
  private readonly admission: NewSessionAdmission;
  private readonly depth = new DepthMirror();
  // What the modules in workers/ that this object calls see of it.
  private readonly host: SessionHost;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // A brand-new object has no alarm: its first accept need not ask.
    if (ensureSchema(ctx.storage)) this.alarmAt = null;
    this.admission = new NewSessionAdmission(env);
    this.host = {
      env,
      ctx,
      sql: this.sql,
      life: crypto.randomUUID(),
      generation: () => this.generation,
      meta: <T>(k: string) => this.meta<T>(k),
      setMeta: (k, v) => this.setMeta(k, v),
      binding: () => this.binding(),
      history: () => this.history(),
      wake: (at) => this.wake(at),
    };
  }

  // ---- meta -------------------------------------------------------------------------------------
  private meta<T>(k: string): T | null {
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0];
    return row ? (JSON.parse(row.v) as T) : null;
  }

  private setMeta(k: string, v: unknown): void {
    this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, JSON.stringify(v));
    // The copies accept() keeps follow every write through here (restore, WebChat, turns).
    if (k === "profile") this.profile = undefined;
    else if (k === "peer_bucket") this.peerBucket = undefined;
    else if (k === "created_at") this.created = v !== null;
  }

  // The latest agent and account config the Worker resolved; written only when its version
  // (session-store.ts bindingVersion) changed, and kept in memory (read back from meta after an
  // eviction). Returns the meta rows to write, for the caller's one statement.
  private bind(b: SessionBinding): [string, string][] {
    const bound = this.binding();
    const version = b.version ?? (b === bound ? bound.version : bindingVersion(b.agent, b.account));
    if (bound && bound.key === b.key && bound.version === version) return [];
    const rows: [string, string][] = [
      ["key", JSON.stringify(b.key)],
      ["agent", JSON.stringify(b.agent)],
      ["account", JSON.stringify(b.account)],
      ["binding_version", JSON.stringify(version)],
    ];
    if (!this.isCreated()) {
      rows.push(["created_at", JSON.stringify(Date.now())]);
      this.created = true;
    }
    this.bound = { version, key: b.key, agent: b.agent, account: b.account };
    return rows;
  }

  private binding(): (SessionBinding & { version: string }) | null {
    if (this.bound) return this.bound;
    const rows = this.sql.exec<{ k: string; v: string }>("SELECT k, v FROM meta WHERE k IN ('key', 'agent', 'account', 'binding_version')").toArray();
    const got = Object.fromEntries(rows.map((r) => [r.k, JSON.parse(r.v) as unknown]));
    if (got.key === undefined || got.agent === undefined || got.account === undefined) return null;
    const [agent, account] = [got.agent as AgentConfig, got.account as AccountConfig];
    // Stored before versions were: the next accept compares against this encoding.
    const version = typeof got.binding_version === "string" ? got.binding_version : bindingVersion(agent, account);
    this.bound = { version, key: got.key as string, agent, account };
    return this.bound;
  }

  private isCreated(): boolean {
    this.created ??= this.meta<number>("created_at") !== null;
    return this.created;
  }

  private async wake(when: number): Promise<void> {
    const at = alarmTime(when);
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  // ---- inbound ----------------------------------------------------------------------------------
  // One transaction of at most three statements for a message of a known session with nothing
  // new about it: the insert that also tells a duplicate (ON CONFLICT DO NOTHING RETURNING), the
  // inbox count, and one write of the meta that changes (last activity, the rate bucket; the
  // config, the sender's profile and the reply target only when they changed). A refusal rolls
  // the insert back. The output gate holds the answer until the transaction is durable.
  async accept(binding: SessionBinding, message: InboundMessage): Promise<AcceptResult> {
    if (!this.isCreated()) {
      // The account's new-session cap, only before the session's first message (a concurrent
      // delivery of the same message waits on the same admission, then is the duplicate below).
      const refusal = await newSessionRefusal(this.admission, binding.account);
      if (refusal) return refusal;
    }
    const now = Date.now();
    let result: AcceptResult;
    try {
      result = this.ctx.storage.transactionSync(() => {
        const inserted = this.sql
          .exec<{ seq: number }>(
            "INSERT INTO inbox (msg_id, message, state, next_at, received_at) VALUES (?, ?, 'queued', ?, ?) ON CONFLICT (msg_id) DO NOTHING RETURNING seq",
            message.messageId,
            JSON.stringify(message),
            now,
            now,
          )
          .toArray()[0];
        if (!inserted) return this.recorded(message.messageId) as AcceptResult;
        const queued = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox WHERE state = 'queued'").one().n;
        this.peerBucket ??= this.meta<TokenBucket>("peer_bucket");
        const { refusal, bucket } = sessionRefusal(binding.account, queued, this.peerBucket, now);
        if (refusal) throw new Refused(refusal);
        const rows = this.bind(binding);
        rows.push(["last_active", JSON.stringify(now)], ["peer_bucket", JSON.stringify(bucket)]);
        this.profile ??= this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'profile'").toArray()[0]?.v ?? null;
        const profile = JSON.stringify({ ...(this.profile === null ? null : (JSON.parse(this.profile) as Record<string, unknown>)), ...message.sender, channel: message.channel });
        if (profile !== this.profile) rows.push(["profile", profile]);
        // Where proactive messages (notify) go: the conversation's latest place.
        const target = JSON.stringify({ chatId: message.chatId, threadId: message.threadId, callbackUrl: message.callbackUrl });
        if (target !== this.target) rows.push(["target", target]);
        writeMetaRows(this.sql, rows);
        this.peerBucket = bucket;
        this.profile = profile;
        this.target = target;
        return { status: "accepted", seq: inserted.seq };
      });
    } catch (err) {
      if (!(err instanceof Refused)) {
        // Rolled back: what was cached from inside the transaction may not be what is stored.
        this.forgetCopies();
        throw err;
      }
      return err.result;
    }
    if (result.status !== "accepted") return result;
    await this.wake(now);
    auditAccepted(this.env, binding, result.seq, now);
    return result;
  }

  private forgetCopies(): void {
    this.bound = null;
    this.created = undefined;
    this.profile = undefined;
    this.peerBucket = undefined;
    this.target = null;
  }

  private recorded(messageId: string): AcceptResult | null {
    const found = this.sql.exec<{ seq: number }>("SELECT seq FROM inbox WHERE msg_id = ?", messageId).toArray()[0];
    return found ? { status: "duplicate", seq: found.seq } : null;
  }

  // A proactive message (a scheduled reminder, a heartbeat's answer): one send intent on the
  // outbox under the caller's idempotency key, in order after the replies already queued, and
  // an assistant turn in the history. "unbound": the session has had no conversation yet.
  async notify(idempotencyKey: string, text: string): Promise<"queued" | "duplicate" | "unbound"> {
    return queueProactive(this.host, idempotencyKey, text);
  }

  // A platform's later report that a sent message failed (WhatsApp's `failed` status): that
  // intent becomes a dead letter. false: no sent intent has that receipt.
  async receiptFailed(receipt: string, error: string): Promise<boolean> {
    return failSentIntent(this.host, receipt, error);
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
    let turns = 0;
    for (;;) {
      if (gen !== this.generation) return;
      if (await haltIfTenantGone(this.host, gen)) break;
      await flushOutbox(this.host, gen);
      if (gen !== this.generation) return;
      if (await compactIfNeeded(this.host, gen)) continue;
      const batch = this.dueBatch(Date.now());
      if (batch.length === 0) break;
      // Between turns (a backlog is being worked off): the depth as it stands (workers/channels/depth.ts).
      if (turns++ > 0) await this.depth.mirror(this.host, gen);
      await runTurn(this.host, batch, gen);
    }
    if (gen !== this.generation) return;
    await this.depth.mirror(this.host, gen);
    await this.scheduleNext();
  }

  private async scheduleNext(): Promise<void> {
    const now = Date.now();
    const inbox = this.sql.exec<{ t: number | null }>("SELECT MIN(next_at) AS t FROM inbox WHERE state = 'queued'").one().t;
    const head = this.sql.exec<{ next_at: number }>("SELECT next_at FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1").toArray()[0];
    let next: number | null = inbox;
    if (head) {
      const sendAt = Math.max(head.next_at, nextSendSlot(this.host));
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
    this.alarmAt = alarmTime(Math.max(next, now));
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

  // ---- admin: dead letters, pairing, export, snapshots (workers/agents/session-records.ts) -------
  async retryDead(intentId: number): Promise<boolean> {
    return retryDeadIntent(this.host, intentId);
  }

  async dropDead(intentId: number): Promise<boolean> {
    return dropDeadIntent(this.host, intentId);
  }

  async approvePairing(pairingId?: string): Promise<void> {
    approvePairing(this.host, pairingId);
  }

  async exportState(): Promise<Record<string, unknown>> {
    return exportSession(this.host);
  }

  async snapshot(): Promise<{ id: number; at: number }> {
    return saveSnapshot(this.host);
  }

  async restore(snapshotId: number): Promise<boolean> {
    return restoreSnapshot(this.host, snapshotId);
  }

  // ---- erase, expiry ---------------------------------------------------------------------------
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
    this.forgetCopies();
    this.depth.forget();
    ensureSchema(this.ctx.storage);
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
        this.sql.exec("DELETE FROM meta WHERE k NOT IN ('key', 'agent', 'account', 'binding_version', 'created_at', 'last_active', 'registered', ?)", SCHEMA_VERSION_KEY);
      });
      this.target = null;
      this.profile = undefined;
      this.peerBucket = undefined;
      this.alarmAt = alarmTime(oldest + deadLetterRetentionMs(this.env));
      await this.ctx.storage.setAlarm(this.alarmAt);
      return;
    }
    await unlistExpiredSession(this.host);
    await this.wipe();
  }

  // ---- WebChat (WebSocket hibernation) ----------------------------------------------------------
  async fetch(request: Request): Promise<Response> {
    return openWebChatSocket(this.host, request, this.admission, (b) => writeMetaRows(this.sql, this.bind(b)));
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    return onWebChatFrame(this.host, ws, data, (b, m) => this.accept(b, m));
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    onWebChatClose(ws, code);
  }
}
