// ChannelAccountLedger: one Durable Object per channel account (named by its id), the account-wide
// record of which platform message ids it has seen. A Telegram update_id is unique per bot, not
// per chat: the session's own dedupe (one object per chat) cannot see the same update replayed
// into another chat's session. The ledger remembers which session an id went to:
//   new     first sight: recorded, the caller hands it to that session
//   same    seen for the same session: a platform retry, handed on (the session answers
//           "duplicate", or records it if the first attempt died before it did)
//   replay  seen for another session: dropped, never reaches a session or a model
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env.ts";

export type LedgerClaim = "new" | "same" | "replay";

// As long as the session's own dedupe window: platforms retry for hours, not days.
const REMEMBER_MS = 7 * 86_400_000;

export class ChannelAccountLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private prunedAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // The table is made once, not on every start: one read says whether it is there.
    if (this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seen'").toArray().length === 0) {
      this.sql.exec("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, session TEXT NOT NULL, at INTEGER NOT NULL)");
      this.sql.exec("CREATE INDEX IF NOT EXISTS seen_at_idx ON seen (at)");
    }
  }

  async claim(messageId: string, sessionKey: string): Promise<LedgerClaim> {
    const now = Date.now();
    if (now - this.prunedAt > 3_600_000) {
      this.prunedAt = now;
      this.sql.exec("DELETE FROM seen WHERE at < ?", now - REMEMBER_MS);
    }
    // One statement for a new id: the insert tells new from seen.
    if (this.sql.exec("INSERT INTO seen (id, session, at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING 1 AS n", messageId, sessionKey, now).toArray().length > 0) return "new";
    const row = this.sql.exec<{ session: string }>("SELECT session FROM seen WHERE id = ?", messageId).one();
    return row.session === sessionKey ? "same" : "replay";
  }
}
