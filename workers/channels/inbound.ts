// The one accept path of every platform message, once the delivery is verified and parsed: the
// webhook route (./routes.ts) and the Discord Gateway connection (durable-objects/discord-gateway.ts)
// both end here. Bindings pick the agent, the account's ledger drops a message id replayed into
// another chat, and either the ledger (a session not started yet) or the session's Durable Object
// records the message, durably, before the caller acknowledges anything to the platform.
import type { ChatSession, SessionBinding } from "../../durable-objects/session.ts";
import { bindingVersion } from "../../durable-objects/session-store.ts";
import type { InboundMessage } from "../../schema/channels.ts";
import { resolveBinding, sessionKeyOf, tenantAgents, type AgentConfig } from "../agents/config.ts";
import type { Env } from "../env.ts";
import { tenantStatus } from "../tenants/liveness.ts";
import type { AccountConfig, VerifiableAccount } from "./types.ts";
import { objectNamed } from "../regions/objects.ts";

export function sessionStub(env: Env, key: string): DurableObjectStub<ChatSession> {
  return objectNamed(env, env.SESSIONS, key);
}

// The account without what only verification needs: made once per cached account object
// (../agents/config.ts hands out the same object until it reloads one, and a reload is a new
// object), not on every delivery. Callers must not change it.
const publicAccounts = new WeakMap<VerifiableAccount, AccountConfig>();

export function publicAccount(a: VerifiableAccount): AccountConfig {
  let pub = publicAccounts.get(a);
  if (!pub) {
    const { secretHash: _secret, signingSecretRef: _signing, publicKey: _key, ...rest } = a;
    publicAccounts.set(a, (pub = rest));
  }
  return pub;
}

export async function agentFor(env: Env, m: InboundMessage, explicitAgentId?: string): Promise<AgentConfig | null> {
  const config = await tenantAgents(env, m.tenantId);
  if (explicitAgentId !== undefined) return config.agents.get(explicitAgentId) ?? null;
  return resolveBinding(config, { channel: m.channel, accountId: m.accountId, groupId: m.groupId, peerId: m.peerId });
}

// The version of the binding's config that the session compares (session-store.ts
// bindingVersion), encoded once per cached agent and account object rather than per message.
const versions = new WeakMap<AgentConfig, WeakMap<AccountConfig, string>>();

export function bindingOf(agent: AgentConfig, account: VerifiableAccount, m: InboundMessage): SessionBinding {
  const pub = publicAccount(account);
  let byAccount = versions.get(agent);
  if (!byAccount) versions.set(agent, (byAccount = new WeakMap()));
  let version = byAccount.get(pub);
  if (version === undefined) byAccount.set(pub, (version = bindingVersion(agent, pub)));
  return { key: sessionKeyOf(agent, m), agent, account: pub, version };
}

// What became of one message: accepted (recorded, its turn will answer it), duplicate (seen
// before), or why nothing was recorded. Never throws for a message that will not be accepted:
// the platform is answered 200 either way, since a retry would not change the outcome.
export interface InboundOutcome {
  status: "accepted" | "duplicate" | "tenant_revoked" | "unbound" | "rate_limited";
  reason?: string;
}

export async function deliverInbound(env: Env, account: VerifiableAccount, message: InboundMessage): Promise<InboundOutcome> {
  if ((await tenantStatus(env, account.tenantId)) !== "live") return { status: "tenant_revoked" };
  const agent = await agentFor(env, message);
  // Nothing would ever answer it, and a retry would not change that: acknowledged, logged.
  if (!agent) {
    console.warn(JSON.stringify({ level: "warn", msg: "no agent bound", tenant: message.tenantId, channel: message.channel, account: account.id }));
    return { status: "unbound" };
  }
  const binding = bindingOf(agent, account, message);
  // The account's ledger first (durable-objects/account-ledger.ts): a message id seen for another
  // chat is a replay, dropped; a message to a session that has not started is stored there and
  // handed on after this answer; one to a started session goes to the session from here.
  const taken = await objectNamed(env, env.ACCOUNT_LEDGERS, account.id).take(binding, message);
  if (taken === "replay" || taken === "duplicate") return { status: "duplicate" };
  if (taken === "queued") return { status: "accepted" };
  const result = await sessionStub(env, binding.key).accept(binding, message);
  if (result.status === "refused") return { status: "rate_limited", reason: result.code };
  return { status: result.status };
}
