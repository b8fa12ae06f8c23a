// The one interface every channel adapter implements: verify the platform's authenticity proof
// on the raw delivery, parse it into the one InboundMessage shape, and send a reply. The core
// (webhook route, session Durable Object, outbox) only ever talks to this interface, so a new
// platform is a new module plus an entry in ./index.ts.
import type { FeishuSettings, WhatsappSettings } from "../../schema/channel-settings.ts";
import type { Channel, InboundMessage } from "../../schema/channels.ts";
import type { Env } from "../env.ts";
import type { ChannelLimits } from "./limits.ts";

// What a session needs to know about the account it answers through (no secrets).
export interface AccountConfig {
  id: string;
  tenantId: string;
  channel: Channel;
  apiBaseUrl: string | null;
  // Name of the Worker secret holding the platform credential.
  tokenRef: string | null;
  botUsername: string | null;
  sendIntervalMs: number | null;
  // Ingress limits, the defaults merged with the account's own (./limits.ts). Optional because a
  // session may hold a copy written before limits existed.
  limits?: ChannelLimits;
  // Replies stream: a first message at the first tokens, edited in place as the text grows.
  streamReplies?: boolean;
  // A send whose outcome is unknown: resent (the default; absent in copies written before the
  // policy existed) or dead-lettered without a resend (./outbox.ts).
  inDoubt?: "resend" | "drop";
  // The platform's own settings (schema/channel-settings.ts), present on its accounts only.
  whatsapp?: WhatsappSettings;
  feishu?: FeishuSettings;
}

// Plus what verification needs: the SHA-256 of the shared secret, or (Slack) the reference to
// the secret that signs each delivery, resolved in the account's tenant when verifying.
export interface VerifiableAccount extends AccountConfig {
  secretHash: string | null;
  signingSecretRef?: string | null;
  // Discord: the application's Ed25519 public key (hex).
  publicKey?: string | null;
}

export interface Delivery {
  headers: Headers;
  body: string;
  // The conversation the transport already names (WebChat: the visitor id of the socket).
  peer?: string;
}

// One durable send intent of the outbox, as the adapter needs it.
export interface SendIntent {
  // Stable across retries: <session key>#<intent id>.
  key: string;
  chatId: string;
  threadId: string | null;
  replyToId: string | null;
  // The inbound message this answers (hooks report it to the callback; WebChat tags the reply).
  inReplyTo: string;
  text: string;
  callbackUrl: string | null;
  // Set: this intent replaces the text of a message already sent (its platform id, as the send
  // returned it in the receipt) instead of sending a new one: a streamed reply's final edit.
  editMessageId?: string | null;
}

export interface SendContext {
  env: Env;
  // WebChat: the session's open sockets.
  sockets: WebSocket[];
  // When the chat's latest inbound message arrived (null: none kept), read only when asked
  // (WhatsApp: free-form messages only within 24 hours of it).
  lastInboundAt?: () => number | null;
}

// A platform's later report that a message it accepted (the send's receipt) was not delivered
// after all (WhatsApp's `failed` status): the chat names the session, the intent becomes a dead
// letter with the platform's error.
export interface ReceiptFailure {
  chatId: string;
  peerId: string;
  groupId: string | null;
  threadId: string | null;
  receipt: string;
  error: string;
}

export type SendResult =
  | { ok: true; receipt: string }
  // accountWide: the platform's rate-limit answer is about the bot as a whole (every chat of it
  // waits), not about this chat alone (a busy group, a channel's 1 msg/s).
  // inDoubt: no answer came back (the connection failed or timed out, or the answer could not be
  // read), so the platform may or may not have made the message.
  | { ok: false; retryable: boolean; retryAfterMs: number | null; error: string; accountWide?: boolean; inDoubt?: boolean };

// Sends per second for one account, and how many may go at once after a quiet spell.
export interface AccountSendRate {
  perSecond: number;
  burst: number;
}

export interface ChannelAdapter {
  channel: Channel;
  // Longer replies are split into several intents.
  maxTextLength: number;
  // Least gap between two sends into one chat, unless the account sets its own.
  minSendIntervalMs: number;
  // The platform's limit on sends by one bot account across all its chats (Telegram's ~30/s):
  // enforced by a SendLimiter per account (./send-limits.ts). Absent: no account-wide limit,
  // and the outbox makes no call for it (unless the account sets its own in `limits`).
  accountSendRate?: AccountSendRate;
  // `env` lets a verifier open the account's signing secret from the vault.
  verify(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<boolean>;
  // true: the proof signs the body (Slack's HMAC), so the webhook route reads the (bounded) body
  // before verify; otherwise verify sees the headers only and no body is read for a stranger.
  signsBody?: boolean;
  // A verified delivery that is the platform's own handshake (Slack's url_verification) and is
  // answered with this JSON instead of reaching a session; null for everything else.
  handshake?(delivery: Delivery): Record<string, unknown> | null;
  // A platform that encrypts its deliveries (Feishu/Lark): the verified delivery with its body
  // decrypted, called after verify and before handshake and parse, which see only its result.
  // Throws ApiError(400) for a body that does not decrypt. Absent: the body is read as sent.
  open?(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<Delivery>;
  // GET /webhooks/:channel/:account (WhatsApp's subscription handshake): the text to answer
  // 200 with, or null to refuse (403); throws ApiError(400) for missing or malformed parameters.
  subscribe?(query: URLSearchParams, account: VerifiableAccount, env: Env): Promise<string | null>;
  // Receipt failures a verified delivery reports (./receipts.ts), beside or instead of messages.
  receiptFailures?(delivery: Delivery, account: AccountConfig): ReceiptFailure[];
  // The JSON body the platform should get as the 200 answer instead of the route's
  // {ok, status} (Slack shows a slash command's answer to the user); null: the default.
  ackBody?(delivery: Delivery, status: string): Record<string, unknown> | null;
  // Splits a long reply into messages the platform renders well (Slack: never inside a code
  // block or a <...> link); without it the core splits at maxTextLength on lines and words.
  split?(text: string): string[];
  // null: a valid delivery that needs no answer (a group message not addressed to the bot, a
  // non-message update). Throws ApiError(400) for a malformed one.
  parse(delivery: Delivery, account: AccountConfig, now: number): InboundMessage | null;
  // A platform that may batch several events in one delivery (LINE's events[]): every message
  // of it that needs an answer, in the delivery's order. The webhook route then accepts each one
  // in turn (a refusal of one does not drop the others) and acknowledges the delivery once.
  // Absent: parse's one message.
  parseAll?(delivery: Delivery, account: AccountConfig, now: number): InboundMessage[];
  // The receipt of a successful send is the platform's id of the message it created (what edit
  // takes back as editMessageId).
  send(intent: SendIntent, account: AccountConfig, ctx: SendContext): Promise<SendResult>;
  // Streaming replies (AccountConfig.streamReplies): replaces the text of a message this bot
  // sent. Absent: the platform's replies never stream. An edit to the text the message already
  // has counts as a success (a resent final edit after a crash).
  edit?(intent: SendIntent & { editMessageId: string }, account: AccountConfig, ctx: SendContext): Promise<SendResult>;
  // Least gap between two edits of one streamed message, from the platform's edit limits.
  editIntervalMs?: number;
  // The most edits one sent message takes (Feishu: 20). A streamed message then gets at most
  // maxEdits - 1 intermediate edits, one kept for the final edit. Absent: no cap.
  maxEdits?: number;
  // A message that already stands for the reply before any text exists, so streaming edits it
  // from the first tokens instead of posting one (Discord: an interaction's deferred answer,
  // "@original"); null or absent: streaming posts its first message.
  streamTarget?(intent: SendIntent): string | null;
}
