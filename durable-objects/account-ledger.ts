// ChannelAccountLedger: one Durable Object per channel account (named by its id), the account-wide
// record of which platform message ids it has seen, and the first durable step for messages to
// sessions that have not started yet.
//
// Seen ids: a Telegram update_id is unique per bot, not per chat: the session's own dedupe (one
// object per chat) cannot see the same update replayed into another chat's session. The ledger
// remembers which session an id went to, and drops an id seen for another session ("replay").
//
// Taking a message (take(), what the Worker asks before it answers the webhook):
//   direct     the session has started (a hand-on from here was recorded by it in the last
//              REMEMBER_MS) and nothing of it waits here: the Worker hands the message to the
//              session itself (whose answer, rate_limited included, it returns)
//   queued     the session has not started (as far as this ledger knows) or has messages waiting
//              here: the whole message is stored here, in the same commit as its seen id, and
//              the Worker answers the platform at once; the ledger hands it to the session right
//              after (workers/channels/ledger-forward.ts), in order, resumed by the alarm after
//              a crash. A burst of new chats then costs the ack one commit in this one existing
//              object instead of creating a session object per chat before answering.
//   duplicate  already taken and still waiting here: a platform retry
//   replay     seen for another session: dropped, never reaches a session or a model
import { DurableObject } from "cloudflare:workers";
import type { InboundMessage } from "../schema/channels.ts";
import { LedgerForwarder, type PendingRow } from "../workers/channels/ledger-forward.ts";
import type { Env } from "../workers/env.ts";
import { objectNamed } from "../workers/regions/objects.ts";
import type { AcceptResult, SessionBinding } from "./session-store.ts";

export type LedgerTake = "direct" | "queued" | "duplicate" | "replay";

// As long as the session's own dedupe window: platforms retry for hours, not days.
const REMEMBER_MS = 7 * 86_400_000;
// Messages waiting here at most; past it a message of a session with nothing waiting takes the
// direct path (the ack waits for its session again), so a flood cannot grow this object's store.
export const MAX_PENDING = 2_000;
// When a session that failed is tried again (the alarm), and how often while it keeps failing.
const RETRY_MS = 5_000;

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, session TEXT NOT NULL, at INTEGER NOT NULL)",
  "CREATE INDEX IF NOT EXISTS seen_at_idx ON seen (at)",
  "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, session TEXT NOT NULL, binding TEXT NOT NULL, message TEXT NOT NULL)",
  "CREATE INDEX IF NOT EXISTS pending_session_idx ON pending (session, seq)",
  "CREATE TABLE IF NOT EXISTS started (session TEXT PRIMARY KEY, at INTEGER NOT NULL)",
  "CREATE INDEX IF NOT EXISTS started_at_idx ON started (at)",
];

export class ChannelAccountLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private prunedAt = 0;
  private pendingCount: number;
  private alarmSet: boolean | undefined;
  private readonly forwarder: LedgerForwarder;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // The tables are made once, not on every start: one read says whether the newest is there.
    if (this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'started'").toArray().length === 0) {
      ctx.storage.transactionSync(() => {
        for (const ddl of SCHEMA) this.sql.exec(ddl);
      });
    }
    this.pendingCount = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM pending").one().n;
    this.forwarder = new LedgerForwarder({
      next: (session) => this.nextPending(session),
      settle: (row, result) => this.settle(row, result),
      accept: (binding, message) => objectNamed(this.env, this.env.SESSIONS, binding.key).accept(binding, message),
      retryLater: () => this.retryLater(),
    });
    // Rows left by an object that stopped mid-way are handed on again from now.
    if (this.pendingCount > 0) this.resumeAll();
  }

  async take(binding: SessionBinding, message: InboundMessage): Promise<LedgerTake> {
    const now = Date.now();
    if (now - this.prunedAt > 3_600_000) {
      this.prunedAt = now;
      this.sql.exec("DELETE FROM seen WHERE at < ?", now - REMEMBER_MS);
      // Forgetting that a session started only sends its next message through here once more.
      this.sql.exec("DELETE FROM started WHERE at < ?", now - REMEMBER_MS);
    }
    const key = binding.key;
    // One statement for a new id: the insert tells new from seen.
    const fresh = this.sql.exec("INSERT INTO seen (id, session, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING 1 AS n", message.messageId, key, now).toArray().length > 0;
    if (!fresh) {
      const row = this.sql.exec<{ session: string }>("SELECT session FROM seen WHERE id = ?", message.messageId).one();
      if (row.session !== key) return "replay";
      if (this.sql.exec("SELECT 1 FROM pending WHERE id = ?", message.messageId).toArray().length > 0) return "duplicate";
    }
    // Rows of the session still here (being handed on, or left by a hand-on that failed and waits
    // for the alarm): this message queues behind them, never past them by the direct path.
    const waiting = this.forwarder.busy(key) || (this.pendingCount > 0 && this.sql.exec("SELECT 1 FROM pending WHERE session = ? LIMIT 1", key).toArray().length > 0);
    if (!waiting && (this.pendingCount >= MAX_PENDING || this.sql.exec("SELECT 1 FROM started WHERE session = ?", key).toArray().length > 0)) return "direct";
    this.sql.exec("INSERT INTO pending (id, session, binding, message) VALUES (?, ?, ?, ?)", message.messageId, key, JSON.stringify(binding), JSON.stringify(message));
    this.pendingCount++;
    // The alarm is the hand-on's backstop (an object evicted or restarted before it finished):
    // set in the same commit as the row, once while rows wait.
    if (this.alarmSet !== true) {
      this.alarmSet = true;
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + RETRY_MS);
    }
    this.forwarder.kick(key);
    return "queued";
  }

  // The session is being erased: nothing of it may wait here to be handed on afterwards.
  async forgetSession(key: string): Promise<number> {
    await this.forwarder.settled(key);
    const removed = this.sql.exec("DELETE FROM pending WHERE session = ?", key).rowsWritten;
    this.pendingCount -= removed;
    this.sql.exec("DELETE FROM started WHERE session = ?", key);
    return removed;
  }

  async alarm(): Promise<void> {
    this.alarmSet = false;
    this.resumeAll();
    await this.forwarder.idle();
    if (this.pendingCount > 0) await this.retryLater();
  }

  private resumeAll(): void {
    for (const { session } of this.sql.exec<{ session: string }>("SELECT DISTINCT session FROM pending").toArray()) this.forwarder.kick(session);
  }

  private nextPending(session: string): PendingRow | null {
    const row = this.sql.exec<{ seq: number; binding: string; message: string }>("SELECT seq, binding, message FROM pending WHERE session = ? ORDER BY seq LIMIT 1", session).toArray()[0];
    return row ? { seq: row.seq, binding: JSON.parse(row.binding) as SessionBinding, message: JSON.parse(row.message) as InboundMessage } : null;
  }

  private settle(row: PendingRow, result: AcceptResult): void {
    this.ctx.storage.transactionSync(() => {
      this.pendingCount -= this.sql.exec("DELETE FROM pending WHERE seq = ?", row.seq).rowsWritten;
      if (result.status !== "refused") this.sql.exec("INSERT INTO started (session, at) VALUES (?, ?) ON CONFLICT DO UPDATE SET at = excluded.at", row.binding.key, Date.now());
    });
  }

  private async retryLater(): Promise<void> {
    const at = Date.now() + RETRY_MS;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
    this.alarmSet = true;
  }
}
