// zod schemas and shapes for the messaging side: the one InboundMessage every channel adapter
// produces, the platform payloads the adapters read (Telegram updates, Slack events and slash
// commands, inbound hook bodies, WebChat frames), and the admin bodies for agents, bindings, channel accounts and pairings.
import { z } from "zod";
import { feishuSettings, whatsappSettings } from "./channel-settings.ts";

export const channels = ["telegram", "slack", "discord", "line", "whatsapp", "feishu", "webchat", "hook"] as const;
export type Channel = (typeof channels)[number];

// The platforms that deliver to POST /webhooks/:channel/:account (the admin API prints that path
// for their accounts), and the prefix an owner's Worker-secret reference for each must carry.
// One table, so a new platform is one line here (plus its adapter in workers/channels/index.ts).
export const webhookChannels = ["telegram", "slack", "discord", "line", "whatsapp", "feishu"] as const satisfies readonly Channel[];
export const channelSecretPrefixes = { telegram: "TELEGRAM_", slack: "SLACK_", discord: "DISCORD_", line: "LINE_", whatsapp: "WHATSAPP_", feishu: "FEISHU_" } as const satisfies Partial<Record<Channel, string>>;
export function isWebhookChannel(channel: string): channel is (typeof webhookChannels)[number] {
  return (webhookChannels as readonly string[]).includes(channel);
}

export const dmPolicies = ["open", "allowlist", "pairing"] as const;
export type DmPolicy = (typeof dmPolicies)[number];

// One shape for every platform's message. `messageId` is the platform's dedupe key (Telegram:
// the update_id; Slack: channel and message ts; hooks: the Idempotency-Key; WebChat: the
// client's message id).
export interface InboundMessage {
  tenantId: string;
  channel: Channel;
  accountId: string;
  // The sender (a user id on the platform).
  peerId: string;
  // The group chat, when the message came from one (null: a direct message).
  groupId: string | null;
  threadId: string | null;
  // Where a reply goes (Telegram chat id; WebChat: the visitor; hooks: the caller's run).
  chatId: string;
  messageId: string;
  // The platform's id of the message itself, to reply to it (null when the platform has none).
  replyToId: string | null;
  text: string;
  command: "start" | "reset" | null;
  sender: { id: string; name: string | null };
  attachments: { kind: string; ref: string }[];
  callbackUrl: string | null;
  receivedAt: number;
}

// --- Telegram (https://core.telegram.org/bots/api#update), the fields the adapter reads -----
const tgUser = z.looseObject({
  id: z.number().int(),
  is_bot: z.boolean().optional(),
  first_name: z.string().optional(),
  username: z.string().optional(),
});
const tgChat = z.looseObject({ id: z.number().int(), type: z.string() });
const tgEntity = z.looseObject({ type: z.string(), offset: z.number().int(), length: z.number().int() });
const tgMessage = z.looseObject({
  message_id: z.number().int(),
  date: z.number().int().optional(),
  chat: tgChat,
  from: tgUser.optional(),
  message_thread_id: z.number().int().optional(),
  text: z.string().optional(),
  caption: z.string().optional(),
  entities: z.array(tgEntity).optional(),
  reply_to_message: z.looseObject({ message_id: z.number().int(), from: tgUser.optional() }).optional(),
  photo: z.array(z.looseObject({ file_id: z.string() })).optional(),
  document: z.looseObject({ file_id: z.string() }).optional(),
});
export const telegramUpdate = z.looseObject({
  update_id: z.number().int(),
  message: tgMessage.optional(),
});
export type TelegramUpdate = z.infer<typeof telegramUpdate>;

// --- Slack Events API (https://api.slack.com/apis/events-api), the fields the adapter reads --
// Slack message timestamps ("1700000000.000100") are the message ids.
const slackTs = z.string().regex(/^\d{1,12}\.\d{1,9}$/, "a Slack timestamp");
const slackId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);
export const slackEvent = z.looseObject({
  type: z.string().min(1).max(100),
  subtype: z.string().max(100).optional(),
  user: slackId.optional(),
  bot_id: z.string().max(64).optional(),
  text: z.string().max(40_000).optional(),
  ts: slackTs.optional(),
  thread_ts: slackTs.optional(),
  channel: slackId.optional(),
  channel_type: z.string().max(32).optional(),
  files: z
    .array(z.looseObject({ id: z.string().min(1).max(64), name: z.string().max(1_000).optional(), mimetype: z.string().max(200).optional() }))
    .max(100)
    .optional(),
});
export type SlackEvent = z.infer<typeof slackEvent>;
// Every Events API body has a type; url_verification and event_callback are the two we act on.
export const slackEnvelopeType = z.looseObject({ type: z.string().min(1).max(100) });
export const slackUrlVerification = z.looseObject({ type: z.literal("url_verification"), challenge: z.string().min(1).max(1_000) });
export const slackEventCallback = z.looseObject({
  type: z.literal("event_callback"),
  event_id: z.string().min(1).max(100),
  team_id: z.string().max(64).optional(),
  event: slackEvent,
});
// A slash command (https://api.slack.com/interactivity/slash-commands): a form-encoded POST,
// signed like events.
export const slackSlashCommand = z.looseObject({
  command: z.string().regex(/^\/[A-Za-z0-9_.-]{1,32}$/),
  text: z.string().max(4_000).default(""),
  user_id: slackId,
  user_name: z.string().max(200).optional(),
  channel_id: slackId,
  trigger_id: z.string().min(1).max(200),
});

// --- Inbound hooks ------------------------------------------------------------------------------
export const hookBody = z.strictObject({
  text: z.string().min(1).max(32_000),
  // The conversation this turn belongs to (one session per peer); "default" when missing.
  peer: z.string().min(1).max(200).optional(),
  // An agent id of the account's tenant; when missing, the bindings decide.
  agent_id: z.string().min(1).max(64).optional(),
  callback_url: z.url({ protocol: /^https?$/ }).max(2048).optional(),
});
export const idempotencyKey = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces");

// --- WebChat frames (browser -> session DO) ------------------------------------------------------
export const webchatFrame = z.strictObject({
  type: z.literal("message"),
  id: z.string().min(1).max(100),
  text: z.string().min(1).max(32_000),
});
export const webchatPeer = z.string().regex(/^[A-Za-z0-9_-]{16,100}$/, "16-100 of A-Z, a-z, 0-9, _ and -");

// --- Admin bodies --------------------------------------------------------------------------------
const tenantRef = z.string().min(1).max(64).optional();
const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "1-63 of a-z, 0-9 and -, starting with a letter or digit");

const agentFields = {
  system_prompt: z.string().max(32_000),
  model: z.string().min(1).max(128),
  history_token_budget: z.number().int().min(64).max(1_000_000),
  max_reply_tokens: z.number().int().min(1).max(100_000),
  dm_policy: z.enum(dmPolicies),
  allowlist: z.array(z.string().min(1).max(200)).max(10_000),
  session_ttl_s: z.number().int().min(1).max(365 * 86_400),
  merge_queued: z.boolean(),
};
// Creating needs a prompt and a model; every other setting has a default. Updating takes any subset.
const agentSettings = z.strictObject(agentFields);
export const createAgentBody = agentSettings
  .partial()
  .required({ system_prompt: true, model: true })
  .extend({ tenant_id: tenantRef, name });
export const updateAgentBody = agentSettings
  .partial()
  .refine((b) => Object.keys(b).length > 0, { message: "nothing to update" });

const matchField = z.string().min(1).max(200).optional();
export const createBindingBody = z
  .strictObject({
    tenant_id: tenantRef,
    agent_id: z.string().min(1).max(64),
    channel: z.enum(channels).optional(),
    account_id: matchField,
    group_id: matchField,
    peer_id: matchField,
  })
  .refine((b) => b.group_id === undefined || b.peer_id === undefined, { message: "a binding matches a group or a peer, not both", path: ["peer_id"] });

// A platform credential is a vault:<name> secret of the account's own tenant, or (owner only) a
// Worker secret named after the platform, TELEGRAM_*, SLACK_*, DISCORD_*, LINE_*, WHATSAPP_* or FEISHU_* (the prefix keeps an account from
// pointing at any other secret and sending it to an api_base_url of the admin's choosing; the
// create body also checks the prefix matches the account's channel).
export const channelTokenRef = z
  .string()
  .regex(/^(?:(?:TELEGRAM|SLACK|DISCORD|LINE|WHATSAPP|FEISHU)_[A-Z0-9_]{1,64}|vault:[A-Za-z0-9_.-]{1,64})$/, "vault:<secret name>, or the name of a Worker secret starting with TELEGRAM_, SLACK_, DISCORD_, LINE_, WHATSAPP_ or FEISHU_");

// Which Worker-secret prefix a channel's references may use (vault: refs fit every channel; a
// channel without a prefix of its own takes none of the owner's Worker secrets).
function refFitsChannel(ref: string | undefined, channel: string): boolean {
  if (ref === undefined || ref.startsWith("vault:")) return true;
  const prefix = (channelSecretPrefixes as Partial<Record<string, string>>)[channel];
  return prefix !== undefined && ref.startsWith(prefix);
}

// Public ingress limits an account may set for itself (workers/channels/limits.ts has the
// defaults and what enforces each one). Bounded: an account can tighten or loosen them, but not
// switch them off.
export const channelLimits = z.strictObject({
  // Hook requests per minute for the account (exact, across every location).
  hooks_per_min: z.number().int().min(1).max(100_000).optional(),
  // Messages per minute into one session (a WebChat visitor, a Telegram chat), with a burst.
  peer_messages_per_min: z.number().int().min(1).max(10_000).optional(),
  peer_burst: z.number().int().min(1).max(1_000).optional(),
  // Messages a session keeps queued for its turns before it refuses more.
  inbox_max: z.number().int().min(1).max(10_000).optional(),
  // New sessions (new visitors, chats, hook peers) per minute for the account.
  new_sessions_per_min: z.number().int().min(1).max(100_000).optional(),
  // Sends per second for the whole account (every chat of the bot together) and their burst;
  // the default is the platform's bot-wide limit (workers/channels/send-limits.ts).
  account_sends_per_s: z.number().int().min(1).max(1_000).optional(),
  account_send_burst: z.number().int().min(1).max(1_000).optional(),
});
export type ChannelLimitsBody = z.infer<typeof channelLimits>;

// Platforms whose sends take no idempotency key, so a resend after an unknown outcome can make a
// second message: the ones an account's in_doubt policy applies to. (LINE's retry key and
// Feishu's uuid deduplicate a resend; a hook's callback carries Idempotency-Key; WebChat sends
// over the visitor's own socket.)
export const IN_DOUBT_CHANNELS: readonly string[] = ["telegram", "slack", "discord", "whatsapp"];

export const createChannelAccountBody = z
  .strictObject({
    tenant_id: tenantRef,
    channel: z.enum(channels),
    name,
    api_base_url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .transform((u) => u.replace(/(^|[^/])\/+$/, "$1"))
      .optional(),
    token_ref: channelTokenRef.optional(),
    // Slack: the app's signing secret, which signs every delivery (X-Slack-Signature); LINE: the
    // channel secret, which signs every delivery (X-Line-Signature); WhatsApp: the Meta app's
    // secret (X-Hub-Signature-256); Feishu/Lark: the app's Encrypt Key, which signs
    // (X-Lark-Signature) and encrypts every event.
    signing_secret_ref: channelTokenRef.optional(),
    // Telegram's setWebhook secret_token, or WhatsApp's Verify Token (the webhook handshake's
    // hub.verify_token): A-Z, a-z, 0-9, _ and -, at most 256. Generated when missing; one chosen
    // by the admin needs at least 16 characters, since (Telegram) it is the only thing that
    // tells the platform's deliveries from anyone else's.
    webhook_secret: z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, "16-256 of A-Z, a-z, 0-9, _ and -").optional(),
    // Telegram: the bot's @username; Slack: the bot's user id (U...), from auth.test; Discord:
    // the bot's user id (a snowflake), to tell mentions of it and its own messages; LINE
    // (optional): the bot's user id (U...) from GET /v2/bot/info, else each delivery's destination.
    bot_username: z.string().regex(/^[A-Za-z0-9_]{1,64}$/).optional(),
    // Discord: the application's Ed25519 public key (hex, from the Developer Portal's General
    // Information page), which verifies every interaction. Public, so stored as is.
    public_key: z.string().regex(/^[0-9a-fA-F]{64}$/, "64 hex characters").transform((k) => k.toLowerCase()).optional(),
    // Replies appear as they are written: a first message at the first tokens, then edited in
    // place (Telegram, Slack, Discord), with a final edit carrying the whole text.
    stream_replies: z.boolean().optional(),
    // A send whose outcome is unknown (the gateway stopped mid-send, or the platform's answer
    // was lost): "resend" it (at least once: a rare duplicate; the default) or "drop" it as a
    // dead letter an admin can retry (at most once: a rare loss). Only for platforms whose sends
    // take no idempotency key; the others deduplicate a resend themselves.
    in_doubt: z.enum(["resend", "drop"]).optional(),
    send_interval_ms: z.number().int().min(0).max(60_000).optional(),
    limits: channelLimits.optional(),
    // The platform's own settings (./channel-settings.ts), under its name.
    whatsapp: whatsappSettings.optional(),
    feishu: feishuSettings.optional(),
  })
  .refine((b) => b.channel !== "telegram" || b.token_ref !== undefined, { message: "required for telegram", path: ["token_ref"] })
  .refine((b) => b.channel === "telegram" || b.channel === "whatsapp" || b.webhook_secret === undefined, { message: "only telegram and whatsapp accounts have a webhook secret", path: ["webhook_secret"] })
  .refine((b) => b.channel !== "slack" || b.token_ref !== undefined, { message: "required for slack (the bot token, xoxb-...)", path: ["token_ref"] })
  .refine((b) => b.channel !== "slack" || b.signing_secret_ref !== undefined, { message: "required for slack (the app's signing secret)", path: ["signing_secret_ref"] })
  .refine((b) => b.channel !== "slack" || b.bot_username !== undefined, { message: "required for slack: the bot's user id (U...), to tell its own messages and mentions", path: ["bot_username"] })
  .refine((b) => ["slack", "line", "whatsapp", "feishu"].includes(b.channel) || b.signing_secret_ref === undefined, { message: "only slack, line, whatsapp and feishu accounts have a signing secret", path: ["signing_secret_ref"] })
  .refine((b) => b.channel !== "discord" || b.token_ref !== undefined, { message: "required for discord (the bot token)", path: ["token_ref"] })
  .refine((b) => b.channel !== "discord" || b.public_key !== undefined, { message: "required for discord (the application's public key)", path: ["public_key"] })
  .refine((b) => b.channel !== "discord" || b.bot_username !== undefined, { message: "required for discord: the bot's user id, to tell its own messages and mentions", path: ["bot_username"] })
  .refine((b) => b.channel === "discord" || b.public_key === undefined, { message: "only discord accounts have a public key", path: ["public_key"] })
  .refine((b) => b.channel !== "line" || b.token_ref !== undefined, { message: "required for line (the long-lived channel access token)", path: ["token_ref"] })
  .refine((b) => b.channel !== "line" || b.signing_secret_ref !== undefined, { message: "required for line (the channel secret)", path: ["signing_secret_ref"] })
  .refine((b) => b.channel !== "whatsapp" || b.token_ref !== undefined, { message: "required for whatsapp (a system user's access token)", path: ["token_ref"] })
  .refine((b) => b.channel !== "whatsapp" || b.signing_secret_ref !== undefined, { message: "required for whatsapp (the Meta app's secret)", path: ["signing_secret_ref"] })
  .refine((b) => b.channel !== "whatsapp" || b.whatsapp !== undefined, { message: "required for whatsapp: {phone_number_id, template?}", path: ["whatsapp"] })
  .refine((b) => b.channel === "whatsapp" || b.whatsapp === undefined, { message: "only whatsapp accounts have whatsapp settings", path: ["whatsapp"] })
  .refine((b) => b.channel !== "feishu" || b.token_ref !== undefined, { message: "required for feishu (the App Secret)", path: ["token_ref"] })
  .refine((b) => b.channel !== "feishu" || b.signing_secret_ref !== undefined, { message: "required for feishu (the Encrypt Key, which signs and encrypts events)", path: ["signing_secret_ref"] })
  .refine((b) => b.channel !== "feishu" || b.feishu !== undefined, { message: "required for feishu: {app_id, host?, bot_open_id?}", path: ["feishu"] })
  .refine((b) => b.channel === "feishu" || b.feishu === undefined, { message: "only feishu accounts have feishu settings", path: ["feishu"] })
  .refine((b) => b.stream_replies !== true || ["telegram", "slack", "discord", "feishu"].includes(b.channel), { message: "only telegram, slack, discord and feishu replies can stream (WebChat always streams)", path: ["stream_replies"] })
  .refine((b) => b.in_doubt === undefined || IN_DOUBT_CHANNELS.includes(b.channel), {
    message: `only ${IN_DOUBT_CHANNELS.join(", ")} sends can be in doubt (the others' resends are deduplicated by the platform or go over the visitor's own socket)`,
    path: ["in_doubt"],
  })
  .refine((b) => refFitsChannel(b.token_ref, b.channel), { message: "a Worker secret reference must carry the channel's prefix (TELEGRAM_, SLACK_, DISCORD_, LINE_, WHATSAPP_ or FEISHU_)", path: ["token_ref"] })
  .refine((b) => refFitsChannel(b.signing_secret_ref, b.channel), { message: "a Worker secret reference must carry the channel's prefix (SLACK_, LINE_, WHATSAPP_ or FEISHU_)", path: ["signing_secret_ref"] });

export const approvePairingBody = z.strictObject({
  tenant_id: tenantRef,
  code: z.string().regex(/^[A-Z0-9]{8}$/, "the 8-character code the sender got"),
});
