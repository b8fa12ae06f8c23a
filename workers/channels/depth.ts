// Inbox and outbox depth of a session, mirrored into its D1 `sessions` row (inbox_depth,
// outbox_depth, depth_at) so /metrics can sum them per channel without waking every Durable
// Object. The session's alarm mirrors after each turn and at the end of each run, and only when
// the numbers changed since the last write this object made: a quiet conversation (one message
// in, one reply out) costs no D1 write at all, and the webhook's acknowledgement never waits on
// one. A failed write is logged and tried again at the next mirror point; it never fails the turn.
//   inbox_depth   messages accepted and not yet answered (state 'queued')
//   outbox_depth  send intents waiting to go out (state 'pending', retries included)
// The row itself is written by the session's first turn (workers/agents/session-turn.ts
// register); before it exists the UPDATE changes nothing, and the next change writes again.
import type { SessionHost } from "../../durable-objects/session-store.ts";

export interface Depth {
  inbox: number;
  outbox: number;
}

export function sessionDepth(s: SessionHost): Depth {
  return {
    inbox: s.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox WHERE state = 'queued'").one().n,
    outbox: s.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'").one().n,
  };
}

export class DepthMirror {
  // What this object last wrote (null after an eviction: the first mirror writes once).
  private written: Depth | null = null;

  async mirror(s: SessionHost, gen: number): Promise<void> {
    if (gen !== s.generation() || s.meta<boolean>("registered") !== true) return;
    const key = s.binding()?.key;
    if (!key) return;
    const depth = sessionDepth(s);
    if (this.written && this.written.inbox === depth.inbox && this.written.outbox === depth.outbox) return;
    try {
      await s.env.DB.prepare("UPDATE sessions SET inbox_depth = ?, outbox_depth = ?, depth_at = ? WHERE key = ?").bind(depth.inbox, depth.outbox, Date.now(), key).run();
      this.written = depth;
    } catch (err) {
      // Named by the session's log pseudonym (made on its first turn, workers/agents/session-turn.ts),
      // never by the key: the key embeds the peer or group id.
      console.error(JSON.stringify({ level: "warn", msg: "session depth mirror failed; retried at the next turn", session: s.meta<string>("log_ref") ?? "ses_unknown", error: String(err) }));
    }
  }

  // Erase and expiry delete the row: nothing of it is known any more.
  forget(): void {
    this.written = null;
  }
}
