// Streamed replies, edited in place (docs/channels.md, "Streaming replies"): for an account with
// stream_replies on and an adapter that can edit, a reply's first message is posted when the
// first tokens arrive and edited as the text grows; the final edit, carrying the whole text,
// goes through the outbox like any send (./outbox.ts), so it is durable and retried.
//
// Exactly-once, like sends: part 0 of the reply has one outbox row from before the first post,
// intent_key reply:<message id>:0 (the key finish() gives it) in state 'streaming', which
// flushOutbox skips. The post's receipt (the platform's message id) is written to that row as
// soon as it is known, so a turn re-run after a crash edits that message and never posts a
// second one; finish() (queueReplyParts) turns the row into the final edit (a pending intent
// with editMessageId), or marks it sent when the message already shows the final text. A row
// with no receipt (the post failed, or the process died during it) is never posted again: the
// final goes as a normal send, at least once like every send.
//
// Intermediate edits are best effort: at most one per adapter.editIntervalMs, never one with the
// text the message already shows, and only when the account-wide limit has a slot right now
// (skipped otherwise, and tried again an interval later). A 429 backs the interval off (and
// pauses the whole account when the platform says it is bot-wide); other failures never reach
// the dead letters. A platform that caps edits per message (adapter.maxEdits) gets at most
// maxEdits - 1 of them, counted across crashes, one kept for the final edit (./stream-pacing.ts).
// A reply longer than one message stops being edited at the first part's boundary; finish()
// queues the rest as normal sends.
import type { InboundMessage } from "../../schema/channels.ts";
import type { Row, SessionBinding, SessionHost } from "../../durable-objects/session-store.ts";
import { auditSent } from "./audit-events.ts";
import { channelAdapters, splitForChannel } from "./index.ts";
import { flushOutbox, IN_DOUBT_MARK, nextSendSlot } from "./outbox.ts";
import { tenantStatus } from "../tenants/liveness.ts";
import { accountSendWait, accountSlotNow, pauseAccount } from "./send-limits.ts";
import { EditPacing } from "./stream-pacing.ts";
import type { ChannelAdapter, SendIntent, SendResult } from "./types.ts";

// A streaming row's intent: the text the message shows now, when the next edit may go (the
// final edit keeps that spacing too, even after a crash) and the intermediate edits tried.
interface StreamingIntent extends Omit<SendIntent, "key"> {
  nextEditAt?: number;
  edits?: number;
}

interface StreamRow {
  id: number;
  intent: string;
  receipt: string | null;
  next_at: number;
}

export function replyKey(messageId: string, part: number): string {
  return `reply:${messageId}:${part}`;
}

// The streaming row of a turn answering `answering` (the batch's message ids). A session runs one
// turn at a time, so there is at most one; it may answer an earlier message of the batch than the
// last (message A streamed, its model call failed, B arrived during the retry wait: the turn
// answering [A, B] goes on in A's message instead of leaving it half-written and posting another).
function streamRow(s: SessionHost, answering: string[]): (StreamRow & Row) | undefined {
  if (answering.length === 0) return undefined;
  const marks = answering.map(() => "?").join(", ");
  return s.sql
    .exec<StreamRow & Row>(`SELECT id, intent, receipt, next_at FROM outbox WHERE state = 'streaming' AND in_reply_to IN (${marks}) ORDER BY id LIMIT 1`, ...answering)
    .toArray()[0];
}

// The addressing part of a streaming row's intent (its chat, and the message or interaction it
// answers: a Discord interaction's token is in callbackUrl), without the text.
function addressOf(intent: StreamingIntent): Omit<SendIntent, "key" | "text"> {
  const { text: _text, nextEditAt: _next, edits: _edits, ...address } = intent;
  return address;
}

function baseIntent(last: InboundMessage, part: number, text: string): Omit<SendIntent, "key"> {
  return {
    chatId: last.chatId,
    threadId: last.threadId,
    replyToId: part === 0 ? last.replyToId : null,
    inReplyTo: last.messageId,
    text,
    callbackUrl: last.callbackUrl,
  };
}

export class ReplyStream {
  private text = "";
  // What the platform's message shows (null: nothing posted yet) and its id.
  private shown: string | null = null;
  private messageId: string | null = null;
  private rowId: number | null = null;
  private frozen: string | null = null;
  private readonly pacing: EditPacing;
  private stopped = false;
  private pump: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly adapter: ChannelAdapter;
  private readonly binding: SessionBinding;
  private readonly s: SessionHost;
  private readonly gen: number;
  private readonly last: InboundMessage;
  // Where edits go: the reply to `last`, or a resumed row's own address (it may answer an earlier
  // message of a merged batch).
  private address: Omit<SendIntent, "key" | "text">;

  private constructor(s: SessionHost, gen: number, last: InboundMessage) {
    this.s = s;
    this.gen = gen;
    this.last = last;
    this.address = addressOf({ ...baseIntent(last, 0, "") });
    this.binding = s.binding() as SessionBinding;
    this.adapter = channelAdapters[this.binding.account.channel];
    this.pacing = new EditPacing(this.adapter, this.binding.account.sendIntervalMs);
  }

  // A stream for the reply to `last`, or null when this reply does not stream: the account has
  // streaming off, the platform cannot edit, or an earlier run's post left no message id (that
  // post may or may not have arrived; a second one would risk a duplicate). A row with a message
  // id (a run cut short by a crash or a model retry) is resumed: its message is edited.
  // `answering`: the ids of the messages the turn answers (a merged batch's, `last` among them).
  static open(s: SessionHost, gen: number, last: InboundMessage, answering: string[] = [last.messageId]): ReplyStream | null {
    const account = s.binding()?.account;
    if (!account?.streamReplies || !channelAdapters[account.channel].edit) return null;
    const row = streamRow(s, answering);
    if (row && row.receipt === null) return null;
    const stream = new ReplyStream(s, gen, last);
    if (row) {
      const intent = JSON.parse(row.intent) as StreamingIntent;
      stream.rowId = row.id;
      stream.messageId = row.receipt;
      stream.shown = intent.text;
      stream.address = addressOf(intent);
      stream.pacing.nextEditAt = intent.nextEditAt ?? 0;
      // The edits the cut-short run made count against the platform's cap (adapter.maxEdits).
      stream.pacing.edits = intent.edits ?? 0;
    }
    return stream;
  }

  // A piece of the model's answer (the model call's onDelta).
  push(delta: string): void {
    if (this.stopped) return;
    this.text += delta;
    if (this.pump === null) this.pump = this.run().catch((err: unknown) => this.log("stream stopped", String(err)));
    else this.wake();
  }

  // The model call ended: no more edits; resolves once a post or edit in flight has settled (its
  // receipt recorded), so finish() sees the row as it is.
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.pump;
  }

  private gone(): boolean {
    return this.stopped || this.gen !== this.s.generation();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  // Until `ms` passes, more text arrives or the stream stops (null: no time limit).
  private sleep(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === null ? undefined : setTimeout(() => this.wake(), Math.max(0, ms));
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // What the message should show now: the text so far, or (longer than one message) its first
  // part, after which the stream no longer follows the text.
  private view(): string | null {
    if (this.frozen !== null) return this.frozen;
    const display = this.text.trim();
    if (display.length === 0) return null;
    const parts = splitForChannel(this.binding.account.channel, display);
    if (parts.length > 1) this.frozen = parts[0] as string;
    return parts[0] as string;
  }

  // The tenant may be revoked while the reply streams: no post and no edit after that is seen
  // (tenantStatus is cached per isolate, so asking before every call costs nothing). Stops the
  // stream; what it left is dropped with the turn's outbox rows.
  private async live(): Promise<boolean> {
    if ((await tenantStatus(this.s.env, this.binding.agent.tenantId)) === "live") return true;
    this.stopped = true;
    this.log("stream stopped", "tenant not live");
    return false;
  }

  private ctx() {
    return { env: this.s.env, sockets: this.s.ctx.getWebSockets() };
  }

  private async run(): Promise<void> {
    while (!this.gone() && this.view() === null) await this.sleep(null);
    if (this.gone()) return;
    if (this.messageId === null && !(await this.post())) return;
    while (!this.gone()) {
      // The cap's last edit is the final one: nothing more until the turn ends.
      if (this.pacing.spent()) return;
      const wait = this.pacing.nextEditAt - Date.now();
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      const view = this.view() as string;
      // Never the text it already shows, nor a shorter prefix of it (a resumed stream's re-run
      // model call starts over below what the first run had shown).
      if (this.shown !== null && this.shown.startsWith(view)) {
        if (this.frozen !== null) return;
        await this.sleep(null);
        continue;
      }
      if (!(await this.live())) return;
      if (!(await accountSlotNow(this.s, this.binding.account))) {
        this.pacing.skip(Date.now());
        continue;
      }
      if (this.gen !== this.s.generation()) return;
      // Counted before it goes (durable): a crash or lost answer during it cannot undercount.
      this.pacing.edits++;
      this.record();
      const result = await this.edit(view);
      if (this.gen !== this.s.generation()) return;
      if (!(await this.settle(view, result))) return;
    }
  }

  private edit(text: string): Promise<SendResult> {
    const intent = { ...this.address, text, key: `${this.binding.key}#${this.rowId}`, editMessageId: this.messageId as string };
    return (this.adapter.edit as NonNullable<ChannelAdapter["edit"]>)(intent, this.binding.account, this.ctx());
  }

  // After an edit: false when the stream gives up editing (the final edit still comes).
  private async settle(view: string, result: SendResult): Promise<boolean> {
    const outcome = this.pacing.settle(result, Date.now());
    if (outcome.kind === "edited") {
      this.shown = view;
      this.record();
      return true;
    }
    if (result.ok) return true; // ("edited" is every ok: this narrows result for the logs)
    if (outcome.kind === "rate-limited") {
      if (outcome.pauseMs !== null) await pauseAccount(this.s, this.binding.account, outcome.pauseMs);
      this.record();
      this.log("streamed edit rate-limited", result.error);
      return true;
    }
    this.log("streamed edit failed", result.error);
    return outcome.kind === "retry";
  }

  // The message's text and the next edit time, into the row (a resumed run and finish() read them).
  private record(): void {
    if (this.rowId === null || this.gen !== this.s.generation()) return;
    const intent: StreamingIntent = { ...this.address, text: this.shown ?? "", nextEditAt: this.pacing.nextEditAt, edits: this.pacing.edits };
    this.s.sql.exec("UPDATE outbox SET intent = ? WHERE id = ? AND state = 'streaming'", JSON.stringify(intent), this.rowId);
  }

  // The first message, through the normal send path (per-chat spacing, the account-wide limit,
  // waiting for a slot). false: no stream (the reply goes out whole when the turn finishes).
  private async post(): Promise<boolean> {
    const { account, key } = this.binding;
    // A reply never overtakes one queued before it (the previous reply's final edit, a retried
    // send): those go first, sent from here since the alarm that sends them is running this turn.
    // If the model finishes before they are out, the reply does not stream and queues behind them.
    if (!(await this.outboxClear())) return false;
    const target = this.adapter.streamTarget?.({ ...baseIntent(this.last, 0, ""), key: `${key}#stream` }) ?? null;
    while (target === null) {
      if (this.gone()) return false;
      const slot = nextSendSlot(this.s) - Date.now();
      if (slot > 0) {
        await this.sleep(slot);
        continue;
      }
      const wait = await accountSendWait(this.s, account);
      if (this.gen !== this.s.generation()) return false;
      if (wait <= 0) break;
      await this.sleep(wait);
    }
    if (this.gone() || !(await this.live()) || this.gone()) return false;
    const view = this.view() as string;
    const intent = baseIntent(this.last, 0, view);
    const now = Date.now();
    // Durable before the post (and counted as its attempt): a re-run after a crash finds it. Its
    // text is what the platform shows: for a target that is nothing yet (Discord's deferred
    // "thinking..."), so finish() never takes the message for done before an edit has landed.
    const row = this.s.sql
      .exec<{ id: number }>(
        "INSERT INTO outbox (intent_key, in_reply_to, intent, state, attempts, sending, receipt, next_at, created_at) VALUES (?, ?, ?, 'streaming', ?, ?, ?, ?, ?) ON CONFLICT (intent_key) DO NOTHING RETURNING id",
        replyKey(this.last.messageId, 0),
        this.last.messageId,
        JSON.stringify(target === null ? intent : { ...intent, text: "" }),
        target === null ? 1 : 0,
        // In flight until the post's outcome is stored (./outbox.ts: an instance that finds
        // another's mark treats the post as in doubt).
        target === null ? this.s.life : null,
        target,
        now,
        now,
      )
      .toArray()[0];
    if (!row) return false;
    this.rowId = row.id;
    if (target !== null) {
      this.messageId = target;
      return true;
    }
    const result = await this.adapter.send({ ...intent, key: `${key}#${row.id}` }, account, this.ctx());
    if (this.gen !== this.s.generation()) return false;
    const at = Date.now();
    if (!result.ok) {
      // The final goes as a normal send, not before the platform's wait.
      if (result.retryable && result.retryAfterMs !== null && result.accountWide) await pauseAccount(this.s, account, result.retryAfterMs);
      if (this.gen !== this.s.generation()) return false;
      // No answer under "drop": the reply's later send would risk a second copy, so the row
      // keeps a mark no instance owns, and flushOutbox dead-letters it as in doubt.
      const sending = result.inDoubt && account.inDoubt === "drop" ? IN_DOUBT_MARK : null;
      this.s.sql.exec("UPDATE outbox SET last_error = ?, next_at = ?, sending = ? WHERE id = ?", result.error, at + (result.retryAfterMs ?? 0), sending, row.id);
      this.log("streamed reply's first message failed", result.error);
      return false;
    }
    this.messageId = result.receipt;
    this.shown = view;
    this.pacing.nextEditAt = at + this.pacing.interval;
    this.s.sql.exec(
      "UPDATE outbox SET receipt = ?, intent = ?, last_error = NULL, sending = NULL WHERE id = ?",
      result.receipt,
      JSON.stringify({ ...intent, nextEditAt: this.pacing.nextEditAt, edits: 0 } satisfies StreamingIntent),
      row.id,
    );
    this.s.setMeta("last_send_at", at);
    return true;
  }

  private async outboxClear(): Promise<boolean> {
    for (let flushed = false; ; ) {
      if (this.gone()) return false;
      const head = this.s.sql.exec<{ next_at: number }>("SELECT next_at FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1").toArray()[0];
      if (!head) return true;
      const wait = Math.max(head.next_at, nextSendSlot(this.s)) - Date.now();
      if (wait > 0 || flushed) {
        // (flushed: flushOutbox left it due now, e.g. the limiter was unreachable: no busy loop)
        await this.sleep(Math.max(wait, 50));
        flushed = false;
        continue;
      }
      await flushOutbox(this.s, this.gen);
      flushed = true;
    }
  }

  private log(msg: string, error: string): void {
    console.warn(JSON.stringify({ level: "warn", msg, session: this.binding.key, reply_to: this.last.messageId, error }));
  }
}

// The reply's parts on the outbox (inside finish()'s transaction). Part 0 of a streamed reply
// already has its row: with a message id it becomes the final edit of that message (or is done,
// when the message already shows exactly this text); without one it becomes a normal send. The
// other parts are new send intents behind it.
// `answering`: as for ReplyStream.open.
export function queueReplyParts(s: SessionHost, last: InboundMessage, parts: string[], now: number, answering: string[] = [last.messageId]): void {
  const row = streamRow(s, answering);
  parts.forEach((part, i) => {
    const intent = baseIntent(last, i, part);
    if (i === 0 && row) {
      if (row.receipt === null) {
        s.sql.exec("UPDATE outbox SET intent = ?, state = 'pending', next_at = ? WHERE id = ?", JSON.stringify(intent), Math.max(now, row.next_at), row.id);
        return;
      }
      const streamed = JSON.parse(row.intent) as StreamingIntent;
      // The message it streamed into, wherever that is (a merged batch's earlier message).
      const final = JSON.stringify({ ...addressOf(streamed), text: part, editMessageId: row.receipt } satisfies Omit<SendIntent, "key">);
      if (streamed.text === part) {
        s.sql.exec("UPDATE outbox SET intent = ?, state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?", final, now, row.id);
        // Delivered by the stream's own posts and edits: the reply is complete as it stands.
        const bound = s.binding();
        if (bound) auditSent(s.env, bound.key, bound.account, row.id, 0, "stream");
      } else {
        const at = Math.max(now, streamed.nextEditAt ?? 0);
        s.sql.exec("UPDATE outbox SET intent = ?, state = 'pending', attempts = 0, next_at = ?, last_error = NULL WHERE id = ?", final, at, row.id);
      }
      return;
    }
    s.sql.exec(
      "INSERT OR IGNORE INTO outbox (intent_key, in_reply_to, intent, state, next_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
      replyKey(last.messageId, i),
      last.messageId,
      JSON.stringify(intent),
      now,
      now,
    );
  });
}
