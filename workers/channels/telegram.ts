// Telegram Bot API adapter (https://core.telegram.org/bots/api).
//   verify  X-Telegram-Bot-Api-Secret-Token equals the secret given to setWebhook (D1 keeps its
//           SHA-256; compared in constant time)
//   parse   `message` updates with text (or a caption); the dedupe key is update_id. In groups the
//           bot answers only when mentioned (@username) or replied to; /start and /reset are
//           commands (also as /start@bot in groups)
//   send    sendMessage to the chat (and forum topic), replying to the message; 429 carries
//           parameters.retry_after in seconds. An account's own api_base_url passes the
//           outbound-URL policy when it is written (admin API) and again before each call
//   edit    editMessageText (streamed replies): the same token, limits and 429 handling as a send;
//           400 "message is not modified" (the message already shows that text, e.g. a final
//           edit resent after a crash) is a success
import type { InboundMessage } from "../../schema/channels.ts";
import { telegramUpdate, type TelegramUpdate } from "../../schema/channels.ts";
import { parseOr400 } from "../http/validation.ts";
import { resolveSecret } from "../auth/secrets.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformErrorText, platformFetch, readPlatformJson, retryAfterSecondsMs } from "./platform-http.ts";
import { httpFailure, networkFailure, secretMatches } from "./secrets.ts";
import type { Env } from "../env.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { AccountConfig, ChannelAdapter, SendResult } from "./types.ts";

export const TELEGRAM_API = "https://api.telegram.org";

type TgMessage = NonNullable<TelegramUpdate["message"]>;

function addressed(message: TgMessage, text: string, bot: string | null): boolean {
  if (message.chat.type === "private") return true;
  if (!bot) return false;
  const handle = `@${bot.toLowerCase()}`;
  if (message.reply_to_message?.from?.is_bot && message.reply_to_message.from.username?.toLowerCase() === bot.toLowerCase()) return true;
  for (const e of message.entities ?? []) {
    if (e.type === "mention" && text.slice(e.offset, e.offset + e.length).toLowerCase() === handle) return true;
    if (e.type === "bot_command" && text.slice(e.offset, e.offset + e.length).toLowerCase().endsWith(handle)) return true;
  }
  return text.toLowerCase().includes(handle);
}

function commandOf(text: string, bot: string | null): InboundMessage["command"] {
  const m = /^\/(start|reset)(?:@([A-Za-z0-9_]+))?(?:\s|$)/.exec(text.trim());
  if (!m) return null;
  if (m[2] && bot && m[2].toLowerCase() !== bot.toLowerCase()) return null;
  return m[1] as "start" | "reset";
}

export const telegram: ChannelAdapter = {
  channel: "telegram",
  maxTextLength: 4096,
  minSendIntervalMs: 1000,
  // Telegram allows a bot about 30 messages per second across all chats. The limiter lets at most
  // burst + rate x 1 s go in any second: 5 + 25 keeps that at 30.
  accountSendRate: { perSecond: 25, burst: 5 },

  verify(delivery, account) {
    return secretMatches(delivery.headers.get("x-telegram-bot-api-secret-token"), account.secretHash);
  },

  parse(delivery, account, now) {
    const json = deliveryJson(delivery, "update");
    const update = parseOr400(telegramUpdate, json);
    const message = update.message;
    if (!message || !message.from) return null;
    const text = message.text ?? message.caption ?? "";
    const attachments = [
      ...(message.photo?.length ? [{ kind: "photo", ref: (message.photo[message.photo.length - 1] as { file_id: string }).file_id }] : []),
      ...(message.document ? [{ kind: "document", ref: message.document.file_id }] : []),
    ];
    if (!text && attachments.length === 0) return null;
    // An attachment without a caption still reaches the agent as a turn it can answer.
    const said = text || attachments.map((a) => `[${a.kind}]`).join(" ");
    const group = message.chat.type !== "private";
    if (!addressed(message, text, account.botUsername)) return null;
    return {
      tenantId: account.tenantId,
      channel: "telegram",
      accountId: account.id,
      peerId: String(message.from.id),
      groupId: group ? String(message.chat.id) : null,
      threadId: message.message_thread_id !== undefined ? String(message.message_thread_id) : null,
      chatId: String(message.chat.id),
      messageId: String(update.update_id),
      replyToId: group ? String(message.message_id) : null,
      text: said,
      command: commandOf(text, account.botUsername),
      sender: { id: String(message.from.id), name: message.from.username ?? message.from.first_name ?? null },
      attachments,
      callbackUrl: null,
      receivedAt: now,
    };
  },

  async send(intent, account, ctx) {
    // Resolved in the account's own tenant: a vault: reference opens only that tenant's secret.
    const secret = await resolveSecret(ctx.env, account.tenantId, account.tokenRef, "TELEGRAM_");
    if (!secret.ok) return { ok: false, retryable: secret.code === "vault_unavailable", retryAfterMs: null, error: `bot token: ${secret.message}` };
    const token = secret.value;
    const body: Record<string, unknown> = { chat_id: intent.chatId, text: intent.text };
    if (intent.threadId) body.message_thread_id = Number(intent.threadId);
    if (intent.replyToId) body.reply_parameters = { message_id: Number(intent.replyToId), allow_sending_without_reply: true };
    const result = await callBotApi(ctx.env, account, token, "sendMessage", body);
    // Telegram limits a group to about 20 messages a minute on its own; a 429 into a private chat
    // (a positive chat id) can only be the bot-wide limit, so only that one pauses every chat.
    if (!result.ok && result.retryAfterMs !== null && !intent.chatId.startsWith("-")) return { ...result, accountWide: true };
    return result;
  },

  // Telegram publishes no separate edit limit: an edit counts like a message, about one a second
  // into one chat (a group's 20 a minute answers a 429, which backs the stream's edits off).
  editIntervalMs: 1000,

  async edit(intent, account, ctx) {
    const secret = await resolveSecret(ctx.env, account.tenantId, account.tokenRef, "TELEGRAM_");
    if (!secret.ok) return { ok: false, retryable: secret.code === "vault_unavailable", retryAfterMs: null, error: `bot token: ${secret.message}` };
    const body = { chat_id: intent.chatId, message_id: Number(intent.editMessageId), text: intent.text };
    const result = await callBotApi(ctx.env, account, secret.value, "editMessageText", body);
    if (!result.ok && result.error.includes("message is not modified")) return { ok: true, receipt: intent.editMessageId };
    if (!result.ok && result.retryAfterMs !== null && !intent.chatId.startsWith("-")) return { ...result, accountWide: true };
    return result;
  },
};

async function callBotApi(env: Env, account: AccountConfig, token: string, method: string, body: unknown): Promise<SendResult> {
  // The bot token goes in the path: the shared call checks the base URL against the outbound-URL
  // policy first, times out, follows no redirect, and never names the path in an error.
  const call = await platformFetch(env, account.apiBaseUrl, TELEGRAM_API, `/bot${token}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!call.ok) return call.failure;
  const res = call.res;
  let payload: { ok?: boolean; result?: { message_id?: number }; description?: string; parameters?: { retry_after?: number } } = {};
  try {
    payload = ((await readPlatformJson(res)) ?? {}) as typeof payload;
  } catch (err) {
    if (err instanceof PlatformAnswerTooLarge) return answerTooLarge(err);
    if (res.ok) return networkFailure(err);
  }
  if (res.ok && payload.ok && payload.result?.message_id !== undefined) return { ok: true, receipt: String(payload.result.message_id) };
  const retryAfter = payload.parameters?.retry_after;
  return httpFailure(res.ok ? 502 : res.status, `telegram ${method} ${res.status}: ${platformErrorText(String(payload.description ?? "no description"))}`, retryAfterSecondsMs(retryAfter));
}
