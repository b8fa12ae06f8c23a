// WhatsApp adapter: the Cloud API's webhook and sends (https://developers.facebook.com/docs/whatsapp/cloud-api).
//   subscribe  GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..: Meta's check of the
//              Callback URL. The Verify Token is the account's generated webhook secret, of which
//              D1 keeps only the SHA-256: the given token is hashed and compared in constant time
//              (secretMatches); the challenge is echoed as text
//   verify     X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256(app secret, raw body); the app
//              secret is a vault:<name> or WHATSAPP_* reference resolved in the account's tenant;
//              WebCrypto's HMAC verify compares in constant time. Meta signs no timestamp, so
//              there is no replay window: a replayed delivery is answered by the dedupe (the
//              account's ledger and the session's inbox keyed by the wamid), which records
//              nothing twice, and a replayed `failed` status finds its intent already dead
//   parse      entry[].changes[].value: messages[] into InboundMessages, statuses[] into receipt
//              failures (./whatsapp-events.ts); one delivery may carry several of each
//   send       a text message within the 24-hour customer-service window, else the account's
//              template, else a dead letter saying why (./whatsapp-api.ts)
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { secretMatches } from "./secrets.ts";
import type { AccountConfig, ChannelAdapter, Delivery, SendContext, SendIntent, SendResult, VerifiableAccount } from "./types.ts";
import { SERVICE_WINDOW_MS, WHATSAPP_MAX_TEXT, whatsappCall } from "./whatsapp-api.ts";
import { OUTSIDE_WINDOW, whatsappFailures, whatsappMessages } from "./whatsapp-events.ts";

const encoder = new TextEncoder();

// "sha256=" and a SHA-256 HMAC in hex.
const SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;
// What the handshake takes: Meta's challenge is a number; bounded so the echo stays small.
const CHALLENGE = /^[A-Za-z0-9_.-]{1,128}$/;

export const NO_TEMPLATE = `${OUTSIDE_WINDOW} and no template configured`;

async function signatureValid(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<boolean> {
  const match = SIGNATURE.exec((delivery.headers.get("x-hub-signature-256") ?? "").trim());
  if (!match) return false;
  const secret = await resolveSecret(env, account.tenantId, account.signingSecretRef, "WHATSAPP_");
  if (!secret.ok) {
    // Meta retries a failed delivery with backoff for up to 7 days: worth it when the vault is only unreachable.
    if (secret.code === "vault_unavailable") throw new ApiError(503, "vault_unavailable", "The app secret cannot be read right now; try again.");
    console.warn(JSON.stringify({ level: "warn", msg: "whatsapp app secret unusable", account: account.id, reason: secret.message }));
    return false;
  }
  const hex = match[1] as string;
  const mac = new Uint8Array(32);
  for (let i = 0; i < 32; i++) mac[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret.value), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  return crypto.subtle.verify("HMAC", key, mac, encoder.encode(delivery.body));
}

async function accessToken(env: Env, account: AccountConfig): Promise<{ ok: true; token: string } | { ok: false; error: string; retryable: boolean }> {
  // Resolved in the account's own tenant: a vault: reference opens only that tenant's secret.
  const secret = await resolveSecret(env, account.tenantId, account.tokenRef, "WHATSAPP_");
  if (secret.ok) return { ok: true, token: secret.value };
  return { ok: false, retryable: secret.code === "vault_unavailable", error: `access token: ${secret.message}` };
}

function dead(error: string): SendResult {
  return { ok: false, retryable: false, retryAfterMs: null, error };
}

async function send(intent: SendIntent, account: AccountConfig, ctx: SendContext): Promise<SendResult> {
  const settings = account.whatsapp;
  if (!settings) return dead("whatsapp: the account has no phone number id");
  if (!/^\d{1,32}$/.test(intent.chatId)) return dead("whatsapp: the chat id is not a WhatsApp id");
  const token = await accessToken(ctx.env, account);
  if (!token.ok) return { ok: false, retryable: token.retryable, retryAfterMs: null, error: token.error };
  const template = settings.template;
  const asTemplate = async () =>
    template ? (await whatsappCall(ctx.env, account, settings.phone_number_id, token.token, { kind: "template", to: intent.chatId, text: intent.text, template })).result : dead(NO_TEMPLATE);
  // The window is counted from the chat's latest inbound message (none kept: closed).
  const last = ctx.lastInboundAt ? ctx.lastInboundAt() : Date.now();
  if (last === null || Date.now() - last > SERVICE_WINDOW_MS) return asTemplate();
  const call = await whatsappCall(ctx.env, account, settings.phone_number_id, token.token, { kind: "text", to: intent.chatId, text: intent.text, replyToId: intent.replyToId });
  // WhatsApp counts the window from its own clock: a refusal as outside it goes as the template
  // (without one, Meta's refusal is the dead letter's reason).
  return call.outsideWindow && template ? asTemplate() : call.result;
}

export const whatsapp: ChannelAdapter = {
  channel: "whatsapp",
  maxTextLength: WHATSAPP_MAX_TEXT,
  // Meta's pair rate limit allows about one message every 6 seconds to one user sustained (with
  // short bursts), answering 131056 past it. A reply's parts 1 s apart stay readable and rarely
  // meet it; a 131056 is retried with the outbox's backoff, for this chat only.
  minSendIntervalMs: 1_000,
  // A number's default throughput is 80 messages/s (higher tiers up to 1,000). The default stays
  // below, since the number's throughput is shared with anything else sending through it; an
  // operator raises it per account (limits.account_sends_per_s / account_send_burst).
  accountSendRate: { perSecond: 60, burst: 20 },
  signsBody: true,

  verify(delivery, account, env) {
    return signatureValid(delivery, account, env);
  },

  async subscribe(query, account) {
    const mode = query.get("hub.mode");
    const token = query.get("hub.verify_token");
    const challenge = query.get("hub.challenge");
    if (mode === null || token === null || challenge === null) {
      throw new ApiError(400, "invalid_request", "Expected hub.mode, hub.verify_token and hub.challenge (Meta's webhook verification request).");
    }
    if (!CHALLENGE.test(challenge)) throw new ApiError(400, "invalid_request", "hub.challenge: 1-128 of A-Z, a-z, 0-9, _, . and -.");
    // Hashed and compared even for a wrong mode, so the answer's timing says nothing about the token.
    const matches = await secretMatches(token.slice(0, 512), account.secretHash);
    return mode === "subscribe" && matches ? challenge : null;
  },

  // The first message of the delivery; the webhook route uses parseAll for all of them.
  parse(delivery, account, now) {
    return whatsappMessages(delivery, account, now)[0] ?? null;
  },

  parseAll(delivery, account, now) {
    return whatsappMessages(delivery, account, now);
  },

  receiptFailures(delivery, account) {
    return whatsappFailures(delivery, account);
  },

  send,
};
