// DM pairing: a sender unknown to a pairing-policy agent gets a one-time code (the same one until
// it is approved); an admin approves the code through the admin API. D1 is the record; the
// session caches an approval so later turns do not ask again. Runs in the session's turn, never
// on the webhook path. Each decision is a data-plane audit event (workers/audit/event.ts):
// pairing.code_issued (a new code), pairing.denied (a message from a sender whose code is still
// pending: not answered, only reminded of the code), pairing.approved (the session took the
// admin's approval: through the approve route's call to the session, or, when that call never
// arrived, from D1 at the sender's next message). The code itself is never in it.
// pairing.denied is written at most once an hour per pairing (DENIED_AUDIT_EVERY_MS): every
// message of a pending sender would otherwise add a row, so an outsider could grow the tenant's
// audit log without bound. When it was last written is kept in the session's own storage (the
// session is the sender's, one per pairing), not in isolate memory, so an eviction does not reset it.
import { sendSessionAudit, type AuditAction } from "../audit/event.ts";
import { and, eq } from "drizzle-orm";
import { pairings } from "../../schema/agents.ts";
import type { InboundMessage } from "../../schema/channels.ts";
import { newId } from "../admin/ids.ts";
import { database } from "../db.ts";
import type { Env } from "../env.ts";
import type { SessionHost } from "../../durable-objects/session-store.ts";

export const DENIED_AUDIT_EVERY_MS = 60 * 60 * 1000;
const DENIED_META = "pairing_denied_audit";

export interface PairingSubject {
  tenantId: string;
  agentId: string;
  sessionKey: string;
  channel: string;
  accountId: string;
  pairingId: string | null;
}

export function auditPairing(env: Env, action: Extract<AuditAction, `pairing.${string}`>, p: PairingSubject): void {
  sendSessionAudit(env, p.sessionKey, {
    tenantId: p.tenantId,
    actor: `agent:${p.agentId}`,
    action,
    metadata: { agent_id: p.agentId, channel: p.channel, account_id: p.accountId, pairing_id: p.pairingId },
  });
}

const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

function newCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let code = "";
  for (const b of bytes) code += ALPHABET[b % ALPHABET.length];
  return code;
}

// true (and remembered) when this pairing's last pairing.denied row is an hour old or more, or none
// was written by this session yet.
function deniedAuditDue(session: Pick<SessionHost, "meta" | "setMeta">, pairingId: string, now: number): boolean {
  const last = session.meta<{ id: string; at: number }>(DENIED_META);
  if (last && last.id === pairingId && now - last.at < DENIED_AUDIT_EVERY_MS && now >= last.at) return false;
  session.setMeta(DENIED_META, { id: pairingId, at: now });
  return true;
}

export async function pairingState(
  env: Env,
  who: { agentId: string; sessionKey: string; message: InboundMessage; session: Pick<SessionHost, "meta" | "setMeta"> },
): Promise<{ approved: true } | { approved: false; code: string }> {
  const db = database(env.DB);
  const { message } = who;
  const match = and(
    eq(pairings.agentId, who.agentId),
    eq(pairings.channel, message.channel),
    eq(pairings.accountId, message.accountId),
    eq(pairings.peerId, message.peerId),
  );
  const decided = (action: Extract<AuditAction, `pairing.${string}`>, pairingId: string) =>
    auditPairing(env, action, { tenantId: message.tenantId, agentId: who.agentId, sessionKey: who.sessionKey, channel: message.channel, accountId: message.accountId, pairingId });
  for (let tries = 0; tries < 3; tries++) {
    const row = await db.select().from(pairings).where(match).get();
    if (row) {
      if (row.status === "approved") decided("pairing.approved", row.id);
      else if (deniedAuditDue(who.session, row.id, Date.now())) decided("pairing.denied", row.id);
      return row.status === "approved" ? { approved: true } : { approved: false, code: row.code };
    }
    const code = newCode();
    const id = newId("pair", env);
    try {
      await db.insert(pairings).values({
        id,
        tenantId: message.tenantId,
        agentId: who.agentId,
        channel: message.channel,
        accountId: message.accountId,
        peerId: message.peerId,
        sessionKey: who.sessionKey,
        code,
        status: "pending",
        createdAt: Date.now(),
        approvedAt: null,
      });
      decided("pairing.code_issued", id);
      return { approved: false, code };
    } catch (err) {
      // A code collision or a concurrent insert for the same sender: read again.
      if (!(err instanceof Error && /UNIQUE/i.test(err.message + String(err.cause ?? "")))) throw err;
    }
  }
  throw new Error("could not allocate a pairing code");
}
