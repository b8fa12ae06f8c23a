// The account ledger's second step for messages it took itself (durable-objects/account-ledger.ts
// "queued"): each is handed to its session's accept() after the webhook was answered, in the
// order the ledger took them per session, a few sessions at a time, and settled (removed from
// the ledger) once the session answered. A session that fails (its object overloaded, a deploy
// restarting it) keeps its rows: the ledger's alarm starts that session over later, so a message
// taken is handed on at least once and the session's own dedupe (by message id) makes it once.
import type { AcceptResult, SessionBinding } from "../../durable-objects/session-store.ts";
import type { InboundMessage } from "../../schema/channels.ts";

export interface PendingRow {
  seq: number;
  binding: SessionBinding;
  message: InboundMessage;
}

// What the forwarder needs of the ledger's storage and of the sessions.
export interface ForwardHost {
  // The session's oldest row still to hand on, or null when none is left.
  next(sessionKey: string): PendingRow | null;
  // The session answered for the row: remove it (and remember the session as started when it
  // recorded the message).
  settle(row: PendingRow, result: AcceptResult): void;
  accept(binding: SessionBinding, message: InboundMessage): Promise<AcceptResult>;
  // A session failed: the ledger's alarm is to try its rows again later.
  retryLater(): Promise<void>;
}

// Sessions handed on at once: enough to overlap their objects' commits, few enough that handing
// on does not crowd out the acks that arrive meanwhile.
export const FORWARD_CONCURRENCY = 2;
// A session's hand-on starts once no message was taken for QUIET_MS, or once it has waited
// MAX_DEFER_MS (so a steady flood is handed on at full pace, only later): the acks of a burst are
// what the platform times, the hand-on only delays the reply, so a burst of new chats is answered
// first and handed on right after. The cost: a few ms more before a new chat's first reply, up to
// MAX_DEFER_MS in a flood (a model call takes seconds anyway).
export const QUIET_MS = 50;
export const MAX_DEFER_MS = 400;

export class LedgerForwarder {
  private readonly running = new Map<string, Promise<void>>();
  // Sessions waiting to be started, oldest first, with when each began waiting.
  private readonly queue: Array<{ key: string; at: number }> = [];
  private readonly queued = new Set<string>();
  private lastKick = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly host: ForwardHost;

  constructor(host: ForwardHost) {
    this.host = host;
  }

  // Whether the session has rows being handed on or waiting to be: its next message must queue
  // behind them (never overtake them by the direct path).
  busy(sessionKey: string): boolean {
    return this.running.has(sessionKey) || this.queued.has(sessionKey);
  }

  // Hand on the session's rows soon, unless that is already under way. Never throws.
  kick(sessionKey: string): void {
    const now = Date.now();
    this.lastKick = now;
    if (this.busy(sessionKey)) return;
    this.queue.push({ key: sessionKey, at: now });
    this.queued.add(sessionKey);
    this.schedule(QUIET_MS);
  }

  // Resolves when the session's hand-on under way (if any) has stopped. One only waiting to
  // start will find nothing once its rows are gone.
  settled(sessionKey: string): Promise<void> {
    return this.running.get(sessionKey) ?? Promise.resolve();
  }

  // Resolves when nothing is under way or waiting (sessions that failed wait for the alarm).
  idle(): Promise<void> {
    if (this.running.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(0, ms));
  }

  private pump(): void {
    while (this.running.size < FORWARD_CONCURRENCY && this.queue.length > 0) {
      const now = Date.now();
      const oldest = this.queue[0] as { key: string; at: number };
      const quietFor = now - this.lastKick;
      if (quietFor < QUIET_MS && now - oldest.at < MAX_DEFER_MS) {
        this.schedule(Math.min(QUIET_MS - quietFor, MAX_DEFER_MS - (now - oldest.at)));
        return;
      }
      this.queue.shift();
      this.queued.delete(oldest.key);
      this.start(oldest.key);
    }
    if (this.running.size === 0 && this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private start(sessionKey: string): void {
    const run = this.forward(sessionKey)
      .catch(async (err) => {
        console.warn(JSON.stringify({ level: "warn", msg: "ledger hand-on stopped; retried from the alarm", error: String(err) }));
        // Not even the alarm could be set (storage failing): the rows stay, and the ledger's next
        // start, or the session's next message, hands them on. `settled()` (an erase waits on it)
        // must still resolve.
        await this.host.retryLater().catch((e) => console.warn(JSON.stringify({ level: "warn", msg: "ledger retry alarm not set", error: String(e) })));
      })
      .finally(() => {
        this.running.delete(sessionKey);
        this.pump();
      });
    this.running.set(sessionKey, run);
  }

  private async forward(sessionKey: string): Promise<void> {
    for (let row = this.host.next(sessionKey); row; row = this.host.next(sessionKey)) {
      let result: AcceptResult;
      try {
        result = await this.host.accept(row.binding, row.message);
      } catch (err) {
        console.warn(JSON.stringify({ level: "warn", msg: "ledger hand-on failed; retried from the alarm", account: row.message.accountId, error: String(err) }));
        await this.host.retryLater();
        return;
      }
      if (result.status === "refused") {
        // What the direct path would have answered as "rate_limited" (nothing recorded).
        console.warn(JSON.stringify({ level: "warn", msg: "message refused by its session", tenant: row.message.tenantId, channel: row.message.channel, account: row.message.accountId, code: result.code }));
      }
      this.host.settle(row, result);
    }
  }
}
