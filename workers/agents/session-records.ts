// What the admin API reads and changes in one session's records, run inside its object
// (durable-objects/session.ts) through the SessionHost: the export, the history snapshots and
// their restore, a dead letter retried or dropped, and a DM pairing's approval; and, when the
// session expires, its rows in D1's index. Each is one call of the object, so it is ordered with
// the session's own turns.
import type { SessionHost } from "../../durable-objects/session-store.ts";
import { redactedIntent } from "../channels/reply-credentials.ts";
import { auditPairing } from "./pairing.ts";
import type { HistoryEntry } from "./turn.ts";

// The session's whole record, for GET /admin/sessions/:key/export.
export function exportSession(s: SessionHost): Record<string, unknown> {
  const rows = (q: string) => s.sql.exec(q).toArray();
  const binding = s.binding();
  return {
    key: s.meta("key"),
    agent_id: binding?.agent.id ?? null,
    account_id: binding?.account.id ?? null,
    created_at: s.meta("created_at"),
    last_active: s.meta("last_active"),
    model_used: s.meta("model_used"),
    paired: s.meta("paired") === true,
    profile: s.meta("profile"),
    history: rows("SELECT seq, role, content, tokens, summary, at FROM history ORDER BY seq"),
    inbox: rows("SELECT seq, msg_id, state, attempts, received_at, done_at, reply FROM inbox ORDER BY seq"),
    // Reply targets that are credentials (a Discord interaction token) are not shown.
    outbox: rows("SELECT id, intent_key, in_reply_to, intent, state, attempts, last_error, receipt, created_at, sent_at FROM outbox ORDER BY id").map((r) => ({
      ...r,
      intent: redactedIntent(r.intent as string),
    })),
    snapshots: rows("SELECT id, at FROM snapshots ORDER BY id"),
  };
}

// A saved copy of the history and the sender's profile.
export function saveSnapshot(s: SessionHost): { id: number; at: number } {
  const at = Date.now();
  const body = JSON.stringify({ history: s.history(), profile: s.meta("profile") });
  const id = s.sql.exec<{ id: number }>("INSERT INTO snapshots (at, body) VALUES (?, ?) RETURNING id", at, body).one().id;
  return { id, at };
}

// The history (and profile) as a snapshot saved them, in one transaction. false: no such snapshot.
export function restoreSnapshot(s: SessionHost, snapshotId: number): boolean {
  const row = s.sql.exec<{ body: string }>("SELECT body FROM snapshots WHERE id = ?", snapshotId).toArray()[0];
  if (!row) return false;
  const saved = JSON.parse(row.body) as { history: HistoryEntry[]; profile: unknown };
  s.ctx.storage.transactionSync(() => {
    s.sql.exec("DELETE FROM history");
    for (const h of saved.history) {
      s.sql.exec("INSERT INTO history (seq, role, content, tokens, summary, at) VALUES (?, ?, ?, ?, ?, ?)", h.seq, h.role, h.content, h.tokens, h.summary ? 1 : 0, Date.now());
    }
    if (saved.profile !== null) s.setMeta("profile", saved.profile);
  });
  return true;
}

// A dead intent goes back to the head of the line (its id keeps its place in order).
export async function retryDeadIntent(s: SessionHost, intentId: number): Promise<boolean> {
  const changed = s.sql.exec("UPDATE outbox SET state = 'pending', attempts = 0, sending = NULL, next_at = ? WHERE id = ? AND state = 'dead'", Date.now(), intentId).rowsWritten;
  if (changed > 0) await s.wake(Date.now());
  return changed > 0;
}

export function dropDeadIntent(s: SessionHost, intentId: number): boolean {
  return s.sql.exec("UPDATE outbox SET state = 'dropped' WHERE id = ? AND state = 'dead'", intentId).rowsWritten > 0;
}

// An approved pairing takes effect for the next message (audited when it is news here).
export function approvePairing(s: SessionHost, pairingId?: string): void {
  const b = s.binding();
  if (s.meta("paired") !== true && b) auditPairing(s.env, "pairing.approved", { tenantId: b.account.tenantId, agentId: b.agent.id, sessionKey: b.key, channel: b.account.channel, accountId: b.account.id, pairingId: pairingId ?? null });
  s.setMeta("paired", true);
}

// An expired session leaves the D1 index the admin API lists sessions and dead letters from (the
// pair of session-turn.ts's register). A failure is logged; the object is wiped either way.
export async function unlistExpiredSession(s: SessionHost): Promise<void> {
  const key = s.binding()?.key ?? null;
  if (key === null) return;
  try {
    await s.env.DB.batch([s.env.DB.prepare("DELETE FROM sessions WHERE key = ?").bind(key), s.env.DB.prepare("DELETE FROM dead_letters WHERE session_key = ?").bind(key)]);
  } catch (err) {
    console.error(JSON.stringify({ level: "warn", msg: "expired session index cleanup failed", session: key, error: String(err) }));
  }
}
