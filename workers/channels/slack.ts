// Slack adapter: the Events API over HTTP plus slash commands (https://api.slack.com/apis/events-api).
//   verify  X-Slack-Signature = "v0=" + hex HMAC-SHA256("v0:{X-Slack-Request-Timestamp}:{raw body}")
//           with the app's signing secret (a vault:<name> or SLACK_* reference, resolved in the
//           account's tenant); WebCrypto's HMAC verify compares in constant time. A timestamp more
//           than 5 minutes off is a replay and refused, whatever its signature
//   parse   event_callback `message` (DMs, channel_type "im"; channel messages that mention the
//           bot) and `app_mention`; thread_ts is the session thread; bot, own, edited, deleted and
//           other-subtype messages are ignored; files become text placeholders; "reset"/"start"
//           and the slash command (/edgeclaw reset, form-encoded) are the session commands.
//           The dedupe key is channel + message ts, not event_id: Slack sends app_mention AND
//           message.channels for one mention under two event ids, and a retry (X-Slack-Retry-Num)
//           repeats both the event_id and the ts, so the ts key answers each message once
//   send    chat.postMessage with the bot token (Bearer), in the thread the message was in (a
//           channel mention is answered in a thread under it); Slack answers errors as HTTP 200
//           {ok:false,error} and rate limits as HTTP 429 + Retry-After (seconds)
//   edit    chat.update (streamed replies) with the same token, escaping and 429 handling as a
//           send; Slack answers an update to the same text as a success
import { slackEnvelopeType, slackEventCallback, slackSlashCommand, slackUrlVerification, type InboundMessage } from "../../schema/channels.ts";
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformErrorText, platformFetch, readPlatformJson, retryAfterSecondsMs } from "./platform-http.ts";
import { httpFailure, networkFailure } from "./secrets.ts";
import { escapeSlack, mentions, SLACK_MAX_TEXT, splitSlack, stripMention, unescapeSlack } from "./slack-text.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { AccountConfig, ChannelAdapter, Delivery, SendResult, VerifiableAccount } from "./types.ts";

export const SLACK_API = "https://slack.com/api";
// Slack's own replay window for signed requests.
export const SLACK_REPLAY_WINDOW_S = 300;
// Message subtypes that are still a person talking (a file with a comment, a thread reply also
// sent to the channel); every other subtype (edits, deletes, joins, bot_message...) is ignored.
const SPOKEN_SUBTYPES = new Set(["file_share", "thread_broadcast"]);
// Errors Slack reports that a later attempt can get past.
const RETRYABLE_ERRORS = new Set(["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"]);

const encoder = new TextEncoder();

function isForm(delivery: Delivery): boolean {
  return (delivery.headers.get("content-type") ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded");
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

async function signatureValid(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<boolean> {
  const timestamp = delivery.headers.get("x-slack-request-timestamp") ?? "";
  const signature = /^v0=([0-9a-f]{64})$/.exec(delivery.headers.get("x-slack-signature") ?? "");
  if (!/^\d{1,12}$/.test(timestamp) || !signature) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > SLACK_REPLAY_WINDOW_S) return false;
  const secret = await resolveSecret(env, account.tenantId, account.signingSecretRef, "SLACK_");
  if (!secret.ok) {
    // Slack retries a failed delivery: worth it when the vault is only unreachable.
    if (secret.code === "vault_unavailable") throw new ApiError(503, "vault_unavailable", "The signing secret cannot be read right now; try again.");
    console.warn(JSON.stringify({ level: "warn", msg: "slack signing secret unusable", account: account.id, reason: secret.message }));
    return false;
  }
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret.value), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  return crypto.subtle.verify("HMAC", key, hexBytes(signature[1] as string), encoder.encode(`v0:${timestamp}:${delivery.body}`));
}

function commandWord(text: string): "start" | "reset" | null {
  const word = text.trim().toLowerCase();
  return word === "reset" || word === "start" ? word : null;
}

function slashMessage(delivery: Delivery, account: AccountConfig, now: number): InboundMessage {
  const form = parseOr400(slackSlashCommand, Object.fromEntries(new URLSearchParams(delivery.body)));
  const text = form.text.trim();
  // A bare "/edgeclaw" greets like /start; "/edgeclaw reset" starts over; anything else is a prompt.
  const command = text === "" ? "start" : commandWord(text);
  const dm = form.channel_id.startsWith("D");
  return {
    tenantId: account.tenantId,
    channel: "slack",
    accountId: account.id,
    peerId: form.user_id,
    groupId: dm ? null : form.channel_id,
    threadId: null,
    chatId: form.channel_id,
    messageId: `cmd:${form.trigger_id}`,
    replyToId: null,
    text: text === "" ? "start" : text,
    command,
    sender: { id: form.user_id, name: form.user_name ?? null },
    attachments: [],
    callbackUrl: null,
    receivedAt: now,
  };
}

export const slack: ChannelAdapter = {
  channel: "slack",
  maxTextLength: SLACK_MAX_TEXT,
  // Slack allows about one message per second into a channel.
  minSendIntervalMs: 1000,
  // chat.postMessage has no published app-wide number beyond "several hundred a minute" per
  // workspace: 10/s (at most 15 in any second) stays under it, and a 429 pauses the whole account
  // for its Retry-After. An operator raises it with the account's limits.
  accountSendRate: { perSecond: 10, burst: 5 },
  signsBody: true,

  verify(delivery, account, env) {
    return signatureValid(delivery, account, env);
  },

  handshake(delivery) {
    if (isForm(delivery)) return null;
    const json = deliveryJson(delivery, "event");
    if (parseOr400(slackEnvelopeType, json).type !== "url_verification") return null;
    return { challenge: parseOr400(slackUrlVerification, json).challenge };
  },

  ackBody(delivery, status) {
    // Slack shows a slash command's HTTP answer to the one user who typed it.
    if (!isForm(delivery)) return null;
    const says: Record<string, string> = {
      accepted: "On it.",
      duplicate: "Already received.",
      rate_limited: "Too many messages right now; try again in a moment.",
      unbound: "No agent is bound to this Slack app yet.",
      tenant_revoked: "This EdgeClaw workspace is not active.",
    };
    return { response_type: "ephemeral", text: says[status] ?? "On it." };
  },

  split: splitSlack,

  parse(delivery, account, now) {
    if (isForm(delivery)) return slashMessage(delivery, account, now);
    const json = deliveryJson(delivery, "event");
    if (parseOr400(slackEnvelopeType, json).type !== "event_callback") return null;
    const e = parseOr400(slackEventCallback, json).event;
    if (e.type !== "message" && e.type !== "app_mention") return null;
    if (e.bot_id !== undefined || (e.subtype !== undefined && !SPOKEN_SUBTYPES.has(e.subtype))) return null;
    if (!e.user || !e.channel || !e.ts) return null;
    const bot = account.botUsername;
    if (bot !== null && e.user === bot) return null;
    const dm = e.type === "message" && e.channel_type === "im";
    // In a channel the bot answers only when addressed.
    if (!dm && e.type !== "app_mention" && !mentions(e.text ?? "", bot)) return null;
    const text = unescapeSlack(stripMention(e.text ?? "", bot));
    const attachments = (e.files ?? []).map((f) => ({ kind: "file", ref: f.id }));
    if (!text && attachments.length === 0) return null;
    // A file without a comment still reaches the agent as a turn it can answer.
    const said = text || (e.files ?? []).map((f) => `[file: ${f.name ?? f.id}]`).join(" ");
    return {
      tenantId: account.tenantId,
      channel: "slack",
      accountId: account.id,
      peerId: e.user,
      groupId: dm ? null : e.channel,
      // In a channel a top-level mention starts a thread (the reply goes under it) and that thread
      // is the conversation: a follow-up in it (thread_ts = the mention's ts) finds the same session.
      threadId: e.thread_ts ?? (dm ? null : e.ts),
      chatId: e.channel,
      messageId: `${e.channel}:${e.ts}`,
      replyToId: null,
      text: said,
      command: commandWord(text),
      sender: { id: e.user, name: null },
      attachments,
      callbackUrl: null,
      receivedAt: now,
    };
  },

  async send(intent, account, ctx) {
    // Resolved in the account's own tenant: a vault: reference opens only that tenant's secret.
    const secret = await resolveSecret(ctx.env, account.tenantId, account.tokenRef, "SLACK_");
    if (!secret.ok) return { ok: false, retryable: secret.code === "vault_unavailable", retryAfterMs: null, error: `bot token: ${secret.message}` };
    const body: Record<string, unknown> = { channel: intent.chatId, text: escapeSlack(intent.text) };
    const thread = intent.threadId ?? intent.replyToId;
    if (thread !== null) body.thread_ts = thread;
    const result = await callWebApi(ctx.env, account, secret.value, "chat.postMessage", body);
    // Slack's rate limits are per app and method in a workspace: a 429 holds every channel.
    return !result.ok && result.retryAfterMs !== null ? { ...result, accountWide: true } : result;
  },

  // chat.update is a Tier 3 method (about 50 calls a minute per app and workspace): one edit of a
  // streamed reply every 1.2 s keeps a stream within it.
  editIntervalMs: 1200,

  async edit(intent, account, ctx) {
    const secret = await resolveSecret(ctx.env, account.tenantId, account.tokenRef, "SLACK_");
    if (!secret.ok) return { ok: false, retryable: secret.code === "vault_unavailable", retryAfterMs: null, error: `bot token: ${secret.message}` };
    const body = { channel: intent.chatId, ts: intent.editMessageId, text: escapeSlack(intent.text) };
    const result = await callWebApi(ctx.env, account, secret.value, "chat.update", body);
    return !result.ok && result.retryAfterMs !== null ? { ...result, accountWide: true } : result;
  },
};

async function callWebApi(env: Env, account: AccountConfig, token: string, method: "chat.postMessage" | "chat.update", body: unknown): Promise<SendResult> {
  // The bot token goes with the request: the shared call checks the base URL against the
  // outbound-URL policy first, times out, and follows no redirect.
  const call = await platformFetch(env, account.apiBaseUrl, SLACK_API, `/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (!call.ok) return call.failure;
  const res = call.res;
  let payload: { ok?: boolean; ts?: string; error?: string } = {};
  try {
    payload = ((await readPlatformJson(res)) ?? {}) as typeof payload;
  } catch (err) {
    if (err instanceof PlatformAnswerTooLarge) return answerTooLarge(err);
    if (res.ok) return networkFailure(err);
  }
  if (res.ok && payload.ok === true && typeof payload.ts === "string") return { ok: true, receipt: payload.ts };
  const error = `slack ${method} ${res.status}: ${platformErrorText(String(payload.error ?? "no error"))}`;
  if (res.status === 429) return httpFailure(429, error, retryAfterSecondsMs(res.headers.get("retry-after")));
  if (res.ok) return { ok: false, retryable: RETRYABLE_ERRORS.has(payload.error ?? ""), retryAfterMs: null, error };
  return httpFailure(res.status, error, null);
}
