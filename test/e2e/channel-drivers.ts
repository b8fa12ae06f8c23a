// One driver per messaging platform for the channels end-to-end test and benchmark: how its
// account is made through the admin API, how a user's message is delivered the way the platform
// delivers it (signed the way the platform signs it, computed here independently of the
// adapters), and how the replies are read back from the platform's fake. The e2e and the bench
// run the same scenario over every driver, so a platform is one entry here.
import { createHmac } from "node:crypto";
import type { SlackSentMessage } from "../fakes/slack.ts";
import type { SentMessage } from "../fakes/telegram.ts";

export type Platform = "telegram" | "slack";

// A reply as the platform's fake recorded it, the same shape for every platform.
export interface Reply {
  // The platform's chat (conversation) id the reply went to, as chatKey() spells it.
  chat: string;
  // The platform's id of the message the reply created (what the outbox keeps as its receipt).
  id: string;
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
    async sent() {
      const all = await getJson<SlackSentMessage[]>(`${fakeUrl}/control/${encodeURIComponent(botToken)}/sent`);
      return all.map((m) => ({ chat: m.channel, id: m.ts, text: m.text, at: m.at }));
    },
    // A DM's session is its user's (dm:U...).
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/slack/${account.id}/dm:U${chat}`,
    render: (text) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;"),
  };
}
