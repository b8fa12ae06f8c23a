// LINE adapter: the Messaging API's webhook and sends (https://developers.line.biz/en/reference/messaging-api/).
//   verify  X-Line-Signature = base64 HMAC-SHA256(channel secret, raw body); the channel secret is
//           a vault:<name> or LINE_* reference resolved in the account's tenant; WebCrypto's HMAC
//           verify compares in constant time. LINE signs no timestamp, so there is no replay
//           window: a replayed delivery is answered by the dedupe (the account's ledger and the
//           session's inbox keyed by webhookEventId), which records nothing twice
//   parse   a delivery holds `destination` (the bot's user id) and `events[]`: usually one event,
//           but LINE may batch, so parseAll gives one InboundMessage per message event that needs
//           an answer (./line-events.ts); an empty events[] is the console's "Verify" button and
//           is answered 200 with nothing recorded
//   send    the reply token for a reply's first part while it is fresh, else push with a retry
//           key derived from the intent, so LINE itself makes a resent push idempotent
//           (./line-api.ts); a refused reply token falls back to push in the same attempt
import type { InboundMessage } from "../../schema/channels.ts";
import { lineId, lineWebhookBody } from "../../schema/line.ts";
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { LINE_MAX_TEXT, lineCall, REPLY_TOKEN_USABLE_MS, retryKeyOf } from "./line-api.ts";
import { lineEventMessage, replyTokenOf } from "./line-events.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { AccountConfig, ChannelAdapter, Delivery, VerifiableAccount } from "./types.ts";

const encoder = new TextEncoder();

// A SHA-256 HMAC is 32 bytes: 43 base64 characters and one "=".
const SIGNATURE = /^[A-Za-z0-9+/]{43}=$/;

async function signatureValid(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<boolean> {
  const signature = (delivery.headers.get("x-line-signature") ?? "").trim();
  if (!SIGNATURE.test(signature)) return false;
  const secret = await resolveSecret(env, account.tenantId, account.signingSecretRef, "LINE_");
  if (!secret.ok) {
    // LINE redelivers a failed delivery (when redelivery is on): worth it when the vault is only unreachable.
    if (secret.code === "vault_unavailable") throw new ApiError(503, "vault_unavailable", "The channel secret cannot be read right now; try again.");
    console.warn(JSON.stringify({ level: "warn", msg: "line channel secret unusable", account: account.id, reason: secret.message }));
    return false;
  }
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret.value), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const mac = Uint8Array.from(atob(signature), (ch) => ch.charCodeAt(0));
  return crypto.subtle.verify("HMAC", key, mac, encoder.encode(delivery.body));
}

function bodyOf(delivery: Delivery) {
  return parseOr400(lineWebhookBody, deliveryJson(delivery, "webhook body"));
}

function messagesOf(delivery: Delivery, account: AccountConfig, now: number): InboundMessage[] {
  const body = bodyOf(delivery);
  const out: InboundMessage[] = [];
  for (const event of body.events) {
    const message = lineEventMessage(event, account, body.destination, now);
    if (message) out.push(message);
  }
  return out;
}

async function accessToken(env: Env, account: AccountConfig): Promise<{ ok: true; token: string } | { ok: false; error: string; retryable: boolean }> {
  // Resolved in the account's own tenant: a vault: reference opens only that tenant's secret.
  const secret = await resolveSecret(env, account.tenantId, account.tokenRef, "LINE_");
  if (secret.ok) return { ok: true, token: secret.value };
  return { ok: false, retryable: secret.code === "vault_unavailable", error: `channel access token: ${secret.message}` };
}

export const line: ChannelAdapter = {
  channel: "line",
  maxTextLength: LINE_MAX_TEXT,
  // LINE publishes no per-chat limit; a small gap keeps a reply's parts in order on the phone
  // without slowing a conversation.
  minSendIntervalMs: 200,
  // LINE allows 2,000 push/reply requests per second per channel. The default stays far below:
  // the limit is shared with anything else using the channel's token, and the monthly message
  // quota, not the rate, is what a runaway agent would burn. An operator raises it per account
  // (limits.account_sends_per_s / account_send_burst, up to 1,000).
  accountSendRate: { perSecond: 100, burst: 20 },
  signsBody: true,

  verify(delivery, account, env) {
    return signatureValid(delivery, account, env);
  },

  // The first message event of the delivery; the webhook route uses parseAll for all of them.
  parse(delivery, account, now) {
    return messagesOf(delivery, account, now)[0] ?? null;
  },

  parseAll(delivery, account, now) {
    return messagesOf(delivery, account, now);
  },

  async send(intent, account, ctx) {
    const token = await accessToken(ctx.env, account);
    if (!token.ok) return { ok: false, retryable: token.retryable, retryAfterMs: null, error: token.error };
    const reply = replyTokenOf(intent.replyToId);
    if (reply !== null && Date.now() - reply.issuedAt < REPLY_TOKEN_USABLE_MS) {
      const answer = await lineCall(ctx.env, account, token.token, { kind: "reply", replyToken: reply.token, text: intent.text });
      if (!answer.replyTokenRefused) return answer.result;
    }
    // A push needs a user, group or room id: a stored target that is none is never sent anywhere.
    if (!lineId.safeParse(intent.chatId).success) return { ok: false, retryable: false, retryAfterMs: null, error: "line: the chat id is not a LINE user, group or room id" };
    const retryKey = await retryKeyOf(intent);
    return (await lineCall(ctx.env, account, token.token, { kind: "push", to: intent.chatId, text: intent.text, retryKey })).result;
  },
};
