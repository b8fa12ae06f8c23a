// The pacing of one streamed message's intermediate edits (./stream-reply.ts): when the next
// edit may go, how a 429 backs the interval off, after how many failures edits stop, and how
// many edits the platform's per-message cap (ChannelAdapter.maxEdits) leaves for them.
//
// The cap: at most maxEdits - 1 intermediate edits, one always kept for the final edit (the
// outbox intent carrying the whole text, queueReplyParts). The count is durable in the streaming
// row (StreamingIntent.edits) and is raised and written BEFORE each edit goes out, so an edit whose
// answer was lost (or a crash during it) is counted too; a run resumed after a crash or a model
// retry (ReplyStream.open) reads it back and goes on from there, never from 0. After a crash that
// is what is left of the stream: the count, the shown text and, once the turn ends, the one final
// edit intent. Failed and rate-limited edits count as well (the platform may have counted them).
// What the cap cannot cover: a final edit that landed but whose answer was lost is resent by the
// outbox; at a full cap the platform refuses it, and the outbox sends the reply as a new message.
import type { ChannelAdapter, SendResult } from "./types.ts";

// Consecutive failed edits (other than 429s) after which a stream stops editing: the final edit
// still comes, through the outbox.
const MAX_EDIT_FAILURES = 3;
// However often a platform answers 429, an edit is tried at least this often.
const MAX_EDIT_INTERVAL_MS = 30_000;
const DEFAULT_EDIT_INTERVAL_MS = 1_000;

// After an edit: it landed, the platform said slow down (pauseMs: for the whole bot, that long), it
// failed and will be tried again, or the stream stops editing.
export type EditOutcome = { kind: "edited" } | { kind: "rate-limited"; pauseMs: number | null } | { kind: "retry" } | { kind: "stop" };

export class EditPacing {
  interval: number;
  nextEditAt = 0;
  // Intermediate edits tried on this message so far (this run and the runs before it).
  edits = 0;
  private failures = 0;
  private readonly budget: number;

  // An account's own send_interval_ms slows its edits too (a busy Telegram group, whose 20
  // messages a minute edits count against).
  constructor(adapter: ChannelAdapter, sendIntervalMs: number | null | undefined) {
    this.interval = Math.max(adapter.editIntervalMs ?? DEFAULT_EDIT_INTERVAL_MS, sendIntervalMs ?? 0);
    this.budget = adapter.maxEdits === undefined ? Number.POSITIVE_INFINITY : Math.max(0, adapter.maxEdits - 1);
  }

  // No intermediate edit is left: the message waits for the final edit.
  spent(): boolean {
    return this.edits >= this.budget;
  }

  // The account-wide limit had no slot: tried again within an interval, at a random point, so
  // that chats streaming at the same moment do not keep meeting the same full bucket.
  skip(now: number): void {
    this.nextEditAt = now + Math.round(this.interval * (0.25 + Math.random() * 0.75));
  }

  settle(result: SendResult, at: number): EditOutcome {
    if (result.ok) {
      this.failures = 0;
      this.nextEditAt = at + this.interval;
      return { kind: "edited" };
    }
    if (result.retryable && result.retryAfterMs !== null) {
      // The platform says slow down: a longer interval from now on, and nothing before its wait.
      this.interval = Math.min(MAX_EDIT_INTERVAL_MS, this.interval * 2);
      this.nextEditAt = at + Math.max(this.interval, result.retryAfterMs);
      return { kind: "rate-limited", pauseMs: result.accountWide ? result.retryAfterMs : null };
    }
    this.failures++;
    if (!result.retryable || this.failures >= MAX_EDIT_FAILURES) return { kind: "stop" };
    this.nextEditAt = at + this.interval;
    return { kind: "retry" };
  }
}
