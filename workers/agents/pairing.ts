// DM pairing: a sender unknown to a pairing-policy agent gets a one-time code (the same one until
// it is approved); an admin approves the code through the admin API. D1 is the record; the
// session caches an approval so later turns do not ask again. Runs in the session's turn, never
// on the webhook path. Each decision is a data-plane audit event (workers/audit/event.ts):
// pairing.code_issued (a new code), pairing.denied (a message from a sender whose code is still
// pending: not answered, only reminded of the code), pairing.approved (the session took the
// admin's approval: through the approve route's call to the session, or, when that call never
// arrived, from D1 at the sender's next message). The code itself is never in it.
import { sendSessionAudit, type AuditAction } from "../audit/event.ts";
import { and, eq } from "drizzle-orm";
import { pairings } from "../../schema/agents.ts";
import type { InboundMessage } from "../../schema/channels.ts";
import { newId } from "../admin/ids.ts";
import { database } from "../db.ts";
import type { Env } from "../env.ts";

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

export async function pairingState(
  env: Env,
  who: { agentId: string; sessionKey: string; message: InboundMessage },
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
      decided(row.status === "approved" ? "pairing.approved" : "pairing.denied", row.id);
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
