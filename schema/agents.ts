// D1 tables for agents, their bindings to conversations, channel accounts (a Telegram bot, a
// WebChat site, an inbound-hook client), DM pairings, the session index and dead letters.
// Session state itself (history, inbox, outbox) lives in each session's Durable Object; D1 only
// holds config and the indexes the admin API lists. Times are epoch milliseconds.
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { tenants } from "./db.ts";

export const agents = sqliteTable(
  "agents",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    systemPrompt: text("system_prompt").notNull(),
    // A route (or catalog model) name of the tenant, as /v1 clients send it in `model`.
    model: text("model").notNull(),
    // History older than this many (estimated) tokens is summarized.
    historyTokenBudget: integer("history_token_budget").notNull(),
    maxReplyTokens: integer("max_reply_tokens").notNull(),
    // open | allowlist | pairing (direct messages only; groups answer when addressed).
    dmPolicy: text("dm_policy").notNull(),
    // JSON array of peer ids (the platform's user ids) allowed under the allowlist policy.
    allowlist: text("allowlist").notNull(),
    sessionTtlS: integer("session_ttl_s").notNull(),
    // Messages that queued during a turn are answered together in the next one.
    mergeQueued: integer("merge_queued", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("agents_tenant_name_uq").on(t.tenantId, t.name)],
);

// Null columns are wildcards; the most specific match wins: peer > group > account > channel >
// tenant default (all null).
export const agentBindings = sqliteTable(
  "agent_bindings",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    agentId: text("agent_id")
      .notNull()
      .references(() => agents.id),
    channel: text("channel"),
    accountId: text("account_id"),
    groupId: text("group_id"),
    peerId: text("peer_id"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    // A tenant's bindings load together on a cache miss; one binding per exact match.
    uniqueIndex("agent_bindings_match_uq").on(t.tenantId, t.channel, t.accountId, t.groupId, t.peerId),
    index("agent_bindings_agent_idx").on(t.agentId),
  ],
);

export const channelAccounts = sqliteTable(
  "channel_accounts",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    // telegram | slack | discord | line | whatsapp | feishu | webchat | hook
    channel: text("channel").notNull(),
    name: text("name").notNull(),
    // Platform API base (Telegram: https://api.telegram.org); per account so tests and proxies
    // can point elsewhere.
    apiBaseUrl: text("api_base_url"),
    // Name of the Worker secret holding the platform credential (TELEGRAM_...), never the value.
    tokenRef: text("token_ref"),
    // SHA-256 (hex) of the webhook secret (Telegram) or bearer token (hooks): what verification
    // needs and nothing more. Never returned by the admin API.
    secretHash: text("secret_hash"),
    // Reference (vault:<name>, SLACK_* or LINE_*) to the secret that signs the platform's deliveries
    // (Slack: the app's signing secret; LINE: the channel secret), never the value; null for platforms without one.
    signingSecretRef: text("signing_secret_ref"),
    // The bot's @username (Telegram) or user id (Slack, U...), to tell when a group message
    // mentions it and which messages are its own.
    botUsername: text("bot_username"),
    // Least gap between two sends into one chat (null: the channel's default).
    sendIntervalMs: integer("send_interval_ms"),
    // Discord: the application's Ed25519 public key (hex), which verifies interactions.
    publicKey: text("public_key"),
    // 1: replies stream, a first message edited in place as the text grows (docs/channels.md).
    streamReplies: integer("stream_replies").notNull().default(0),
    // A send cut before its answer was stored (a crash mid-send, a lost answer): "resend" it
    // (at least once, the default) or "drop" it as a dead letter (at most once). docs/channels.md.
    inDoubt: text("in_doubt").notNull().default("resend"),
    // JSON of the account's own ingress limits (schema/channels.ts channelLimits); null: the
    // defaults in workers/channels/limits.ts.
    limits: text("limits"),
    // JSON of the platform's own settings (schema/channel-settings.ts: WhatsApp's phone number
    // id and template, Feishu's app id and host); null for platforms without any.
    settings: text("settings"),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("channel_accounts_tenant_name_uq").on(t.tenantId, t.name)],
);

// One row per DM sender that met a pairing-policy agent: a pending code until an admin approves.
export const pairings = sqliteTable(
  "pairings",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id").notNull(),
    channel: text("channel").notNull(),
    accountId: text("account_id").notNull(),
    peerId: text("peer_id").notNull(),
    sessionKey: text("session_key").notNull(),
    // The one-time code the sender got (upper-case letters and digits).
    code: text("code").notNull(),
    status: text("status").notNull(), // pending | approved
    createdAt: integer("created_at").notNull(),
    approvedAt: integer("approved_at"),
  },
  (t) => [
    uniqueIndex("pairings_sender_uq").on(t.agentId, t.channel, t.accountId, t.peerId),
    uniqueIndex("pairings_code_uq").on(t.tenantId, t.code),
  ],
);

// Written once by a session's Durable Object when it first runs a turn (off the webhook path),
// so the admin API can find sessions; the state itself stays in the DO.
export const sessions = sqliteTable(
  "sessions",
  {
    key: text("key").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    agentId: text("agent_id").notNull(),
    channel: text("channel").notNull(),
    accountId: text("account_id").notNull(),
    createdAt: integer("created_at").notNull(),
    // Mirrored by the session's Durable Object at the end of an alarm run when they changed
    // (workers/channels/depth.ts), for /metrics: queued inbound messages and pending send intents.
    inboxDepth: integer("inbox_depth").notNull().default(0),
    outboxDepth: integer("outbox_depth").notNull().default(0),
    // Epoch ms of the last mirror write (null: never mirrored).
    depthAt: integer("depth_at"),
  },
  (t) => [
    index("sessions_tenant_idx").on(t.tenantId, t.createdAt),
    // /metrics sums the depths of the sessions that have any (workers/metrics/channels.ts): only those rows.
    index("sessions_depth_idx").on(t.tenantId, t.channel).where(sql`inbox_depth > 0 OR outbox_depth > 0`),
  ],
);

// Send intents that ran out of attempts, indexed for the admin API; the intent itself stays in
// its session's outbox (state 'dead') so a retry resends exactly it.
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(), // <session key>#<intent id>
    tenantId: text("tenant_id").notNull(),
    sessionKey: text("session_key").notNull(),
    intentId: integer("intent_id").notNull(),
    channel: text("channel").notNull(),
    attempts: integer("attempts").notNull(),
    lastError: text("last_error").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("dead_letters_tenant_idx").on(t.tenantId, t.createdAt), index("dead_letters_session_idx").on(t.sessionKey)],
);

export type AgentRow = typeof agents.$inferSelect;
export type AgentBindingRow = typeof agentBindings.$inferSelect;
export type ChannelAccountRow = typeof channelAccounts.$inferSelect;
