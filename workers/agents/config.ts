// Agents, bindings and channel accounts as the hot path sees them: loaded from D1 once per
// tenant (or account) and cached in the isolate for CACHE_TTL_MS. For another CACHE_TTL_MS past
// that an entry is still served while it is refreshed in the background, so a webhook waits on
// D1 only for an account or tenant its isolate has not seen for two TTLs. Admin writes forget
// the entry in the isolate that made them; other isolates pick the change up within the TTL
// while traffic flows, and within twice it at worst (an isolate idle past the TTL answers one
// more webhook from the old entry). API keys do not get this grace: see workers/cache/ttl-cache.ts.
import { eq } from "drizzle-orm";
import { agentBindings, agents, channelAccounts, type AgentRow, type ChannelAccountRow } from "../../schema/agents.ts";
import { platformSettingsOf } from "../../schema/channel-settings.ts";
import { channels, type Channel, type DmPolicy } from "../../schema/channels.ts";
import { TtlCache } from "../cache/ttl-cache.ts";
import { channelLimitsOf } from "../channels/limits.ts";
import type { VerifiableAccount } from "../channels/types.ts";
import { database } from "../db.ts";
import { settings, type Env } from "../env.ts";

export interface AgentConfig {
  id: string;
  tenantId: string;
  name: string;
  systemPrompt: string;
  model: string;
  historyTokenBudget: number;
  maxReplyTokens: number;
  dmPolicy: DmPolicy;
  allowlist: string[];
  sessionTtlS: number;
  mergeQueued: boolean;
}

interface Binding {
  agentId: string;
  channel: string | null;
  accountId: string | null;
  groupId: string | null;
  peerId: string | null;
}

interface TenantAgents {
  agents: Map<string, AgentConfig>;
  bindings: Binding[];
}

const tenantCache = new TtlCache<TenantAgents>(1_000);
const accountCache = new TtlCache<VerifiableAccount | null>(10_000);

export function agentConfig(row: AgentRow): AgentConfig {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    systemPrompt: row.systemPrompt,
    model: row.model,
    historyTokenBudget: row.historyTokenBudget,
    maxReplyTokens: row.maxReplyTokens,
    dmPolicy: row.dmPolicy as DmPolicy,
    allowlist: JSON.parse(row.allowlist) as string[],
    sessionTtlS: row.sessionTtlS,
    mergeQueued: row.mergeQueued,
  };
}

export function accountConfig(row: ChannelAccountRow): VerifiableAccount {
  return {
    id: row.id,
    tenantId: row.tenantId,
    channel: row.channel as Channel,
    apiBaseUrl: row.apiBaseUrl,
    tokenRef: row.tokenRef,
    botUsername: row.botUsername,
    sendIntervalMs: row.sendIntervalMs,
    limits: channelLimitsOf(row.limits),
    streamReplies: row.streamReplies === 1,
    inDoubt: row.inDoubt === "drop" ? "drop" : "resend",
    secretHash: row.secretHash,
    signingSecretRef: row.signingSecretRef,
    publicKey: row.publicKey,
    ...platformSettingsOf(row.channel, row.settings),
  };
}

// A live account (null: unknown or revoked).
export function accountById(env: Env, id: string): Promise<VerifiableAccount | null> {
  const ttl = settings(env).cacheTtlMs;
  return accountCache.get(
    id,
    ttl,
    async () => {
      const row = await database(env.DB).select().from(channelAccounts).where(eq(channelAccounts.id, id)).get();
      return row && row.revokedAt === null ? accountConfig(row) : null;
    },
    ttl,
  );
}

export function tenantAgents(env: Env, tenantId: string): Promise<TenantAgents> {
  const ttl = settings(env).cacheTtlMs;
  return tenantCache.get(tenantId, ttl, async () => {
    const db = database(env.DB);
    const [agentRows, bindingRows] = await db.batch([
      db.select().from(agents).where(eq(agents.tenantId, tenantId)),
      db.select().from(agentBindings).where(eq(agentBindings.tenantId, tenantId)),
    ]);
    return {
      agents: new Map(agentRows.map((r) => [r.id, agentConfig(r)])),
      bindings: bindingRows.map((b) => ({ agentId: b.agentId, channel: b.channel, accountId: b.accountId, groupId: b.groupId, peerId: b.peerId })),
    };
  }, ttl);
}

export function forgetTenantAgents(tenantId: string): void {
  tenantCache.invalidate(tenantId);
}

export function forgetAccount(id: string): void {
  accountCache.invalidate(id);
}

export interface Conversation {
  channel: string;
  accountId: string;
  groupId: string | null;
  peerId: string;
}

// Specificity as bits, so comparing the sums compares peer, then group, then account, then
// channel: peer > group > account > channel > tenant default.
function specificity(b: Binding): number {
  return (b.peerId !== null ? 8 : 0) + (b.groupId !== null ? 4 : 0) + (b.accountId !== null ? 2 : 0) + (b.channel !== null ? 1 : 0);
}

function bindingMatches(b: Binding, c: Conversation): boolean {
  return (
    (b.channel === null || b.channel === c.channel) &&
    (b.accountId === null || b.accountId === c.accountId) &&
    (b.groupId === null || b.groupId === c.groupId) &&
    // A peer binding is for direct messages with that person; in a group the group decides.
    (b.peerId === null || (c.groupId === null && b.peerId === c.peerId))
  );
}

export function resolveBinding(config: TenantAgents, conversation: Conversation): AgentConfig | null {
  let best: Binding | null = null;
  for (const b of config.bindings) {
    if (!bindingMatches(b, conversation)) continue;
    if (!best || specificity(b) > specificity(best)) best = b;
  }
  return best ? (config.agents.get(best.agentId) ?? null) : null;
}

// The session key: agent + channel + account + (peer | group) (+ thread). Direct messages are
// one session per person; a group (or forum topic) is one shared session. The tenant leads, so
// a key's owner is visible from the key alone.
export function sessionKeyOf(agent: AgentConfig, m: { channel: string; accountId: string; peerId: string; groupId: string | null; threadId: string | null }): string {
  const scope = m.groupId !== null ? `group:${m.groupId}` : `dm:${m.peerId}`;
  return [agent.tenantId, agent.id, m.channel, m.accountId, scope, ...(m.threadId !== null ? [`thread:${m.threadId}`] : [])].join("/");
}

export function tenantOfSessionKey(key: string): string {
  return key.slice(0, key.indexOf("/"));
}

// The channel account part of a session key (its fourth).
export function accountOfSessionKey(key: string): string {
  return key.split("/", 4)[3] ?? "";
}

// The channel part of a session key (its third), or null when that is no known channel.
export function channelOfSessionKey(key: string): Channel | null {
  const parts = key.split("/", 3);
  const channel = parts[2];
  return parts.length === 3 && (channels as readonly string[]).includes(channel as string) ? (channel as Channel) : null;
}
