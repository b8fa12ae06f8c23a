// A revoked (or unknown) tenant's session halts (docs/channels.md, "Revoked tenants"). The
// session Durable Object (durable-objects/session.ts) calls this at the top of every alarm round.
import { REVOKED_SEND_ERROR, type SessionHost } from "../../durable-objects/session-store.ts";
import { deadLetter } from "../channels/outbox.ts";
import { tenantStatus } from "../tenants/liveness.ts";

// A revoked (or unknown) tenant's session makes no model call and sends nothing: its queued
// messages are marked refused and its pending sends dead-lettered with the reason (an admin
// sees them; a retry after revocation dead-letters again). A streamed reply cut off by it (its
// part-0 row still 'streaming', its turn never to finish) is dropped: its message keeps the
// partial text, and a retry could only post that fragment again. true when it halted.
export async function haltIfTenantGone(s: SessionHost, gen: number): Promise<boolean> {
  const bound = s.binding();
  if (!bound || (await tenantStatus(s.env, bound.account.tenantId)) === "live") return false;
  if (gen !== s.generation()) return true;
  const now = Date.now();
  const refusedCount = s.sql.exec("UPDATE inbox SET state = 'refused', done_at = ? WHERE state = 'queued'", now).rowsWritten;
  const pending = s.sql.exec<{ id: number; attempts: number }>("SELECT id, attempts FROM outbox WHERE state = 'pending' ORDER BY id").toArray();
  for (const p of pending) await deadLetter(s, bound.key, p.id, bound.account, p.attempts, REVOKED_SEND_ERROR);
  s.sql.exec("UPDATE outbox SET state = 'dropped', last_error = ? WHERE state = 'streaming'", REVOKED_SEND_ERROR);
  if (refusedCount > 0 || pending.length > 0) {
    console.warn(JSON.stringify({ level: "warn", msg: "tenant not live: session halted", session: bound.key, refused: refusedCount, dead: pending.length }));
  }
  return true;
}
