// Receipt failures: a platform's later report that a message it accepted was not delivered after
// all (WhatsApp's `failed` status with its error). The webhook route finds the session the way an
// inbound message finds it (binding, chat), among the sessions D1 indexes, never creating one;
// the session moves the intent whose receipt matches to the dead letters, indexed in D1 like the
// outbox's own (./outbox.ts deadLetter), so /admin/dead-letters shows the platform's error.
import type { SessionHost } from "../../durable-objects/session-store.ts";
import type { Env } from "../env.ts";
import { agentFor, bindingOf, sessionStub } from "./inbound.ts";
import { deadLetter } from "./outbox.ts";
import type { ReceiptFailure, VerifiableAccount } from "./types.ts";

export type ReceiptOutcome = "dead_lettered" | "unknown";

// Route side: each failure to its session, in order. An unknown chat or receipt is ignored.
export async function deliverReceiptFailures(env: Env, account: VerifiableAccount, failures: ReceiptFailure[]): Promise<ReceiptOutcome[]> {
  const outcomes: ReceiptOutcome[] = [];
  for (const f of failures) {
    const m = { tenantId: account.tenantId, channel: account.channel, accountId: account.id, peerId: f.peerId, groupId: f.groupId, threadId: f.threadId };
    const agent = await agentFor(env, m as Parameters<typeof agentFor>[1]);
    if (!agent) {
      outcomes.push("unknown");
      continue;
    }
    const key = bindingOf(agent, account, m as Parameters<typeof bindingOf>[2]).key;
    // Only a session the index knows (every session that sent a reply registered first): a
    // status for any other chat does not even instantiate its object.
    if ((await env.DB.prepare("SELECT 1 FROM sessions WHERE key = ?").bind(key).first()) === null) {
      outcomes.push("unknown");
      continue;
    }
    outcomes.push((await sessionStub(env, key).receiptFailed(f.receipt, f.error)) ? "dead_lettered" : "unknown");
  }
  return outcomes;
}

// Session side (ChatSession.receiptFailed): the sent intent with that receipt becomes a dead
// letter. false: no such intent (another session's, pruned, or already dead), nothing changes.
export async function failSentIntent(s: SessionHost, receipt: string, error: string): Promise<boolean> {
  const bound = s.binding();
  if (!bound) return false;
  const row = s.sql.exec<{ id: number; attempts: number }>("SELECT id, attempts FROM outbox WHERE receipt = ? AND state = 'sent' ORDER BY id DESC LIMIT 1", receipt).toArray()[0];
  if (!row) return false;
  await deadLetter(s, bound.key, row.id, bound.account, row.attempts, error);
  return true;
}
