// Discord's REST API as the Discord adapter (./discord.ts) uses it: creating and editing messages
// with the bot token (`Authorization: Bot <token>`), and answering an interaction through its
// webhook (no Authorization header: the interaction's token in the path is the credential, valid
// 15 minutes). Answers map to SendResults:
//   2xx      the message object: its id is the receipt
//   429      body {message, retry_after (seconds, fractional), global}; global:true (or the
//            X-RateLimit-Global header) is the bot's 50 requests/s limit: accountWide, every chat
//            of the bot pauses; otherwise it is one bucket's (a channel's 5 messages per 5 s)
//   5xx      retryable; network failures and timeouts too
//   401/403  the bot token is bad or lacks access: not retryable (a dead letter, not a storm)
//   other    4xx: not retryable
// X-RateLimit-Remaining: 0 on a success is not acted on: a SendResult cannot carry "wait before
// the next send" and the outbox learns only from results. The per-chat interval (1 s, Discord's
// 5 per 5 s per channel) keeps a chat inside its bucket, the account limiter inside the global
// limit, and a 429 that still comes is honoured for its retry_after.
import { discordErrorAnswer, discordInteractionToken, discordMessageAnswer, discordRateLimitAnswer, discordSnowflake } from "../../schema/discord.ts";
import type { Env } from "../env.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformFetch, readPlatformJson, retryAfterSecondsMs } from "./platform-http.ts";
import { httpFailure, networkFailure } from "./secrets.ts";
import type { AccountConfig, SendResult } from "./types.ts";

export const DISCORD_API = "https://discord.com/api/v10";
// Discord's limit on a message's content.
export const DISCORD_MAX_TEXT = 2_000;

const INTERACTION_PREFIX = "interaction:";

// Where an interaction's answer goes: its application and token, carried in
// InboundMessage.replyToId as "interaction:<application id>:<token>".
export interface InteractionRef {
  appId: string;
  token: string;
}

export function interactionReplyTo(appId: string, token: string): string {
  return `${INTERACTION_PREFIX}${appId}:${token}`;
}

// null for anything else (a message id, null); a malformed reference is never put in a URL.
export function interactionOf(replyToId: string | null): InteractionRef | null {
  if (replyToId === null || !replyToId.startsWith(INTERACTION_PREFIX)) return null;
  const rest = replyToId.slice(INTERACTION_PREFIX.length);
  const colon = rest.indexOf(":");
  const appId = rest.slice(0, colon);
  const token = rest.slice(colon + 1);
  if (colon < 0 || !discordSnowflake.safeParse(appId).success || !discordInteractionToken.safeParse(token).success) return null;
  return { appId, token };
}

export function isSnowflake(value: string | null | undefined): value is string {
  return typeof value === "string" && discordSnowflake.safeParse(value).success;
}

// The outcome and the HTTP status (0: no answer), so a caller can fall back on an expired
// interaction token (401/404 from the interaction webhook).
export interface DiscordCallResult {
  result: SendResult;
  status: number;
}

// `label` names the call in errors instead of the path, which may hold an interaction token.
export async function discordCall(
  env: Env,
  account: AccountConfig,
  call: { method: "POST" | "PATCH"; path: string; label: string; botToken: string | null; body: unknown },
): Promise<DiscordCallResult> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (call.botToken !== null) headers.authorization = `Bot ${call.botToken}`;
  const fetched = await platformFetch(env, account.apiBaseUrl, DISCORD_API, call.path, { method: call.method, headers, body: JSON.stringify(call.body) });
  if (!fetched.ok) return { result: fetched.failure, status: 0 };
  const res = fetched.res;
  let payload: unknown = null;
  try {
    payload = await readPlatformJson(res);
  } catch (err) {
    if (err instanceof PlatformAnswerTooLarge) return { result: answerTooLarge(err), status: res.status };
    // A success we cannot read may still have created the message: retried like a lost answer.
    if (res.ok) return { result: networkFailure(err), status: res.status };
  }
  if (res.ok) {
    const message = discordMessageAnswer.safeParse(payload);
    if (message.success) return { result: { ok: true, receipt: message.data.id }, status: res.status };
    return { result: httpFailure(502, `discord ${call.label} ${res.status}: no message id in the answer`, null), status: res.status };
  }
  const bucket = res.headers.get("x-ratelimit-bucket");
  if (res.status === 429) {
    const limited = discordRateLimitAnswer.safeParse(payload);
    const body = limited.success ? limited.data : {};
    const retryAfterMs =
      retryAfterSecondsMs(body.retry_after) ?? retryAfterSecondsMs(res.headers.get("retry-after")) ?? retryAfterSecondsMs(res.headers.get("x-ratelimit-reset-after"));
    const global = body.global === true || res.headers.get("x-ratelimit-global")?.toLowerCase() === "true";
    const error = `discord ${call.label} 429: ${global ? "global rate limit" : `rate limited${bucket ? ` (bucket ${bucket.slice(0, 64)})` : ""}`}`;
    const failure = httpFailure(429, error, retryAfterMs);
    return { result: global ? { ...failure, accountWide: true } : failure, status: 429 };
  }
  const parsed = discordErrorAnswer.safeParse(payload);
  const detail = parsed.success && parsed.data.message ? `${parsed.data.message}${parsed.data.code !== undefined ? ` (code ${parsed.data.code})` : ""}` : "no message";
  return { result: httpFailure(res.status, `discord ${call.label} ${res.status}: ${detail}`, null), status: res.status };
}

// The interaction webhook refused its token: expired (Discord keeps it 15 minutes: 401, code
// 50027) or unknown (404). The channel is still there for the bot token.
export function interactionGone(status: number): boolean {
  return status === 401 || status === 404;
}
