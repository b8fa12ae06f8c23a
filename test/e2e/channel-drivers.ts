// One driver per messaging platform for the channels end-to-end test and benchmark: how its
// account is made through the admin API, how a user's message is delivered the way the platform
// delivers it (signed the way the platform signs it, computed here independently of the
// adapters), and how the replies are read back from the platform's fake. The e2e and the bench
// run the same scenario over every driver, so a platform is one entry here (the newer platforms'
// drivers are in ./drivers/).
import { createHmac } from "node:crypto";
import nacl from "tweetnacl";
import type { DiscordMessage } from "../fakes/discord.ts";
import type { SlackSentMessage } from "../fakes/slack.ts";

// The fake's record of a chat.update (test/fakes/slack.ts GET /control/<token>/updates).
interface SlackUpdate {
  channel: string;
  ts: string;
  text: string;
  at: number;
}
import type { SentMessage } from "../fakes/telegram.ts";

export type Platform = "telegram" | "slack" | "discord" | "line" | "whatsapp" | "feishu";

// A reply as the platform's fake recorded it, the same shape for every platform.
export interface Reply {
  // The platform's chat (conversation) id the reply went to, as chatKey() spells it.
  chat: string;
  // The platform's id of the message the reply created (what the outbox keeps as its receipt).
  id: string;
  // Other ids the gateway may keep as the receipt of that same message (LINE: the request id a
  // 409 for an already-accepted retry key names).
  aliases?: string[];
  text: string;
  at: number;
}

// One delivery of one inbound message. A platform that retries re-sends the same body; the
// headers are made per attempt (Slack signs each attempt with a fresh timestamp and numbers its
// retries).
export interface Delivery {
  path: string;
  body: string;
  headers(attempt: number): Record<string, string>;
  // What the platform knows before it delivers (Discord: the interaction, whose webhook the
  // reply will use), told to its fake once before the first attempt.
  prepare?(): Promise<void>;
}

export interface ChannelDriver {
  platform: Platform;
  accountId: string;
  // The platform's id for the chat numbered `chat` (a Telegram chat id, a Slack DM channel).
  chatKey(chat: number): string;
  // A user's message number `seq` (unique across the run) in chat `chat`.
  delivery(chat: number, seq: number, text: string): Delivery;
  // Every reply the fake has recorded for this account, in arrival order.
  sent(): Promise<Reply[]>;
  // The session key the gateway files chat `chat` under (for the admin export).
  sessionKey(chat: number): string;
  // A reply's text as the platform shows it (Slack's mrkdwn escapes &, < and >).
  render(text: string): string;
  // Every edit of a sent message, in arrival order (streamed replies); absent where never used.
  // Each names the message it edits by its id.
  updates?(): Promise<Reply[]>;
  // What the platform's fake counted for this account (API calls by kind), where it counts.
  platformCalls?(): Promise<Record<string, number>>;
}

export type AdminCall = (method: string, path: string, body?: unknown) => Promise<any>;

export interface DriverContext {
  admin: AdminCall;
  tenant: string;
  agentId: string;
  // Account limits a load test raises like an operator would.
  limits: Record<string, number>;
}

async function getJson<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

// --- Telegram: Bot API webhook with the secret token header -------------------------------------

export const TELEGRAM_BOT_TOKEN = "777000:channels-stack-bot";
// Worker secrets (.dev.vars) the accounts reference; a channel's Worker-secret references carry
// its prefix.
export const TELEGRAM_TOKEN_REF = "TELEGRAM_STACK_BOT";

export function telegramUpdate(updateId: number, chatId: number, text: string) {
  return {
    update_id: updateId,
    message: { message_id: updateId, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: "private" }, from: { id: chatId, is_bot: false, first_name: "U" }, text },
  };
}

export async function telegramDriver(ctx: DriverContext, fakeUrl: string): Promise<ChannelDriver> {
  const account = await ctx.admin("POST", "/channel-accounts", {
    tenant_id: ctx.tenant,
    channel: "telegram",
    name: "bot",
    api_base_url: fakeUrl,
    token_ref: TELEGRAM_TOKEN_REF,
    bot_username: "stack_bot",
    limits: ctx.limits,
  });
  const secret: string = account.webhook_secret;
  return {
    platform: "telegram",
    accountId: account.id,
    chatKey: (chat) => String(chat),
    delivery: (chat, seq, text) => ({
      path: `/webhooks/telegram/${account.id}`,
      body: JSON.stringify(telegramUpdate(seq, chat, text)),
      headers: () => ({ "content-type": "application/json", "x-telegram-bot-api-secret-token": secret }),
    }),
    async sent() {
      const all = await getJson<SentMessage[]>(`${fakeUrl}/control/${encodeURIComponent(TELEGRAM_BOT_TOKEN)}/sent`);
      return all.filter((m) => m.method === "sendMessage").map((m) => ({ chat: m.chat_id, id: String(m.message_id), text: m.text, at: m.at }));
    },
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/telegram/${account.id}/dm:${chat}`,
    render: (text) => text,
  };
}

// --- Slack: Events API over HTTP, v0 HMAC signature ---------------------------------------------

export const SLACK_BOT_TOKEN = "xoxb-channels-stack-bot";
export const SLACK_SIGNING_SECRET = "channels-stack-slack-signing-secret-0123";
export const SLACK_TOKEN_REF = "SLACK_STACK_BOT";
// A second Slack app whose replies stream (edited in place): its own token, so the fake keeps its
// messages apart.
export const SLACK_STREAM_BOT_TOKEN = "xoxb-channels-stack-stream-bot";
export const SLACK_STREAM_TOKEN_REF = "SLACK_STACK_STREAM_BOT";
export const SLACK_SIGNING_REF = "SLACK_STACK_SIGNING";
const SLACK_BOT_USER = "UBOTSTACK";

// Slack's v0 signature with node:crypto (the adapter verifies with WebCrypto): hex HMAC-SHA256 of
// "v0:{timestamp}:{raw body}" keyed with the app's signing secret.
export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

export function slackDm(seq: number, chat: number, text: string) {
  return {
    token: "legacy",
    team_id: "TSTACK",
    api_app_id: "ASTACK",
    type: "event_callback",
    event_id: `Ev${seq}`,
    event_time: Math.floor(Date.now() / 1000),
    // A DM: channel D..., from user U...; the message's ts is unique per message (seq).
    event: { type: "message", channel: `D${chat}`, channel_type: "im", user: `U${chat}`, text, ts: `${1_700_000_000 + seq}.000100` },
  };
}

export interface SlackAccountOptions {
  name?: string;
  streamReplies?: boolean;
  // Slack's fake records per bot token: another account keeps its own list.
  botToken?: string;
  tokenRef?: string;
}

export async function slackDriver(ctx: DriverContext, fakeUrl: string, o: SlackAccountOptions = {}): Promise<ChannelDriver> {
  const botToken = o.botToken ?? SLACK_BOT_TOKEN;
  const account = await ctx.admin("POST", "/channel-accounts", {
    tenant_id: ctx.tenant,
    channel: "slack",
    name: o.name ?? "app",
    api_base_url: fakeUrl,
    token_ref: o.tokenRef ?? SLACK_TOKEN_REF,
    signing_secret_ref: SLACK_SIGNING_REF,
    bot_username: SLACK_BOT_USER,
    ...(o.streamReplies ? { stream_replies: true } : {}),
    limits: ctx.limits,
  });
  return {
    platform: "slack",
    accountId: account.id,
    chatKey: (chat) => `D${chat}`,
    delivery(chat, seq, text) {
      const body = JSON.stringify(slackDm(seq, chat, text));
      return {
        path: `/webhooks/slack/${account.id}`,
        body,
        headers(attempt) {
          const timestamp = String(Math.floor(Date.now() / 1000));
          const headers: Record<string, string> = {
            "content-type": "application/json",
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": slackSignature(SLACK_SIGNING_SECRET, timestamp, body),
          };
          // Slack numbers its retries of an event that got no 2xx in time.
          if (attempt > 1) {
            headers["x-slack-retry-num"] = String(Math.min(attempt - 1, 3));
            headers["x-slack-retry-reason"] = "http_error";
          }
          return headers;
        },
      };
    },
    // Each posted message with the text it shows now: a streamed reply is edited in place
    // (chat.update), so its last update is what the user reads.
    async sent() {
      const token = encodeURIComponent(botToken);
      const [posts, updates] = await Promise.all([
        getJson<SlackSentMessage[]>(`${fakeUrl}/control/${token}/sent`),
        getJson<SlackUpdate[]>(`${fakeUrl}/control/${token}/updates`).catch(() => [] as SlackUpdate[]),
      ]);
      const latest = new Map<string, string>();
      for (const u of updates) latest.set(`${u.channel}|${u.ts}`, u.text);
      return posts.map((m) => ({ chat: m.channel, id: m.ts, text: latest.get(`${m.channel}|${m.ts}`) ?? m.text, at: m.at }));
    },
    async updates() {
      const all = await getJson<SlackUpdate[]>(`${fakeUrl}/control/${encodeURIComponent(botToken)}/updates`);
      return all.map((u) => ({ chat: u.channel, id: u.ts, text: u.text, at: u.at }));
    },
    // A DM's session is its user's (dm:U...).
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/slack/${account.id}/dm:U${chat}`,
    render: (text) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;"),
  };
}

// --- Discord: Interactions endpoint, Ed25519 signature, /ask answered through @original ---------

// Shaped like Discord's (three dot-separated base64url parts): the fake checks the shape.
export const DISCORD_BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GhTstk.channelsstackbottoken0123456789";
export const DISCORD_TOKEN_REF = "DISCORD_STACK_BOT";
const DISCORD_APP_ID = "1100000000000000001";
const DISCORD_BOT_ID = "1100000000000000002";

// Snowflakes for chat number `chat`: its DM channel and its user.
const dmChannel = (chat: number) => String(1_200_000_000_000_000_000n + BigInt(chat));
const dmUser = (chat: number) => String(1_300_000_000_000_000_000n + BigInt(chat));

// `/ask text:<text>` in a DM, as Discord sends it; interaction `seq` has its own id and token.
export function discordAsk(seq: number, chat: number, text: string) {
  return {
    id: String(1_400_000_000_000_000_000n + BigInt(seq)),
    application_id: DISCORD_APP_ID,
    type: 2,
    // Unique from its first characters on, like Discord's (the fake names a webhook's rate-limit
    // bucket after them).
    token: `${seq.toString(36).padStart(8, "0")}.aW50ZXJhY3Rpb246c3RhY2s`,
    version: 1,
    channel_id: dmChannel(chat),
    user: { id: dmUser(chat), username: `u${chat}`, global_name: null },
    data: { id: "1100000000000000003", name: "ask", type: 1, options: [{ name: "text", type: 3, value: text }] },
    locale: "en-US",
  };
}

export async function discordDriver(ctx: DriverContext, fakeUrl: string): Promise<ChannelDriver> {
  // A real Ed25519 key pair (tweetnacl; the adapter verifies with WebCrypto): the account holds
  // its public key as the application's, the test signs with the secret key like Discord does.
  const keys = nacl.sign.keyPair();
  const publicKey = Buffer.from(keys.publicKey).toString("hex");
  const account = await ctx.admin("POST", "/channel-accounts", {
    tenant_id: ctx.tenant,
    channel: "discord",
    name: "discord-app",
    api_base_url: `${fakeUrl}/api/v10`,
    token_ref: DISCORD_TOKEN_REF,
    public_key: publicKey,
    bot_username: DISCORD_BOT_ID,
    limits: ctx.limits,
  });
  const messagesBy = (key: string) => getJson<DiscordMessage[]>(`${fakeUrl}/control/messages?key=${encodeURIComponent(key)}`);
  return {
    platform: "discord",
    accountId: account.id,
    chatKey: dmChannel,
    delivery(chat, seq, text) {
      const interaction = discordAsk(seq, chat, text);
      const body = JSON.stringify(interaction);
      return {
        path: `/webhooks/discord/${account.id}`,
        body,
        headers() {
          const timestamp = String(Math.floor(Date.now() / 1000));
          const signature = Buffer.from(nacl.sign.detached(new TextEncoder().encode(timestamp + body), keys.secretKey)).toString("hex");
          return { "content-type": "application/json", "x-signature-ed25519": signature, "x-signature-timestamp": timestamp };
        },
        async prepare() {
          const res = await fetch(`${fakeUrl}/control/interaction`, {
            method: "POST",
            body: JSON.stringify({ app: interaction.application_id, token: interaction.token, channel_id: interaction.channel_id }),
          });
          if (!res.ok) throw new Error(`fake discord: interaction not registered (${res.status})`);
        },
      };
    },
    // The interactions' answers (@original, edited in place) and anything the bot posted itself
    // (a long reply's further parts), as they stand now, in creation order.
    async sent() {
      const [byApp, byBot] = await Promise.all([messagesBy(DISCORD_APP_ID), messagesBy(DISCORD_BOT_TOKEN)]);
      const all = [...byApp, ...byBot].sort((a, b) => a.created_at - b.created_at);
      return all.map((m) => ({ chat: m.channel_id, id: m.id, text: m.content, at: m.created_at }));
    },
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/discord/${account.id}/dm:${dmUser(chat)}`,
    render: (text) => text,
  };
}
