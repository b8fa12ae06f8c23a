// The one interface every channel adapter implements: verify the platform's authenticity proof
// on the raw delivery, parse it into the one InboundMessage shape, and send a reply. The core
// (webhook route, session Durable Object, outbox) only ever talks to this interface, so a new
// platform is a new module plus an entry in ./index.ts.
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
}

// Plus what verification needs: the SHA-256 of the shared secret, or (Slack) the reference to
// the secret that signs each delivery, resolved in the account's tenant when verifying.
export interface VerifiableAccount extends AccountConfig {
  secretHash: string | null;
  signingSecretRef?: string | null;
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
}

export interface SendContext {
  env: Env;
  // WebChat: the session's open sockets.
  sockets: WebSocket[];
}

export type SendResult =
  | { ok: true; receipt: string }
  // accountWide: the platform's rate-limit answer is about the bot as a whole (every chat of it
  // waits), not about this chat alone (a busy group, a channel's 1 msg/s).
  | { ok: false; retryable: boolean; retryAfterMs: number | null; error: string; accountWide?: boolean };

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
  // The JSON body the platform should get as the 200 answer instead of the route's
  // {ok, status} (Slack shows a slash command's answer to the user); null: the default.
  ackBody?(delivery: Delivery, status: string): Record<string, unknown> | null;
  // Splits a long reply into messages the platform renders well (Slack: never inside a code
  // block or a <...> link); without it the core splits at maxTextLength on lines and words.
  split?(text: string): string[];
  // null: a valid delivery that needs no answer (a group message not addressed to the bot, a
  // non-message update). Throws ApiError(400) for a malformed one.
  parse(delivery: Delivery, account: AccountConfig, now: number): InboundMessage | null;
  send(intent: SendIntent, account: AccountConfig, ctx: SendContext): Promise<SendResult>;
}
