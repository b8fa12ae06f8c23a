// Limits on the public ingress (WebChat is open to anyone; webhooks and hooks are reachable by
// anyone who has, or guesses, an account id). Each limit sits where it can be enforced cheaply
// and as exactly as it needs to be:
//   per-account message rate  the Workers Rate Limiting binding CHANNEL_INGRESS (wrangler.jsonc:
//                             a per-location counter, the cheap first gate in front of every
//                             webhook, hook request and WebChat frame; exactness is not needed)
//   hook requests per minute  exact, per account: a RateLimiter Durable Object (chan-hooks:<id>)
//   new sessions per minute   exact, per account: a RateLimiter Durable Object (chan-sessions:<id>),
//                             asked by a session Durable Object the first time it is used
//   messages per session      exact: a token bucket inside the session Durable Object itself
//   queued messages (inbox)   exact: counted by the session Durable Object before it records one
// An account may set its own values (channel_accounts.limits); the defaults below are what an
// operator gets without configuring anything.
import type { ChannelLimitsBody } from "../../schema/channels.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { objectNamed } from "../regions/objects.ts";

// The account-wide send limits have no deployment default: it is the platform's own
// (workers/channels/send-limits.ts), so they stay optional here.
type SendLimitKeys = "account_sends_per_s" | "account_send_burst";
export type ChannelLimits = Required<Omit<ChannelLimitsBody, SendLimitKeys>> & Pick<ChannelLimitsBody, SendLimitKeys>;

export const DEFAULT_CHANNEL_LIMITS: Readonly<ChannelLimits> = {
  hooks_per_min: 120,
  // A person types a message every few seconds at most; the burst covers a batch of forwarded
  // messages or a page resending what a dropped connection left unacknowledged.
  peer_messages_per_min: 30,
  peer_burst: 20,
  inbox_max: 50,
  // New visitors, chats or hook peers: a busy bot sees a few new chats a second, not hundreds.
  new_sessions_per_min: 300,
};

// The account's limits: its own values over the defaults. `stored` is the D1 column (JSON text)
// or an already parsed object (a session's copy of the account).
export function channelLimitsOf(stored: string | Partial<ChannelLimits> | null | undefined): ChannelLimits {
  if (stored === null || stored === undefined) return { ...DEFAULT_CHANNEL_LIMITS };
  let own: Partial<ChannelLimits> = {};
  if (typeof stored === "string") {
    try {
      own = JSON.parse(stored) as Partial<ChannelLimits>;
    } catch {
      own = {};
    }
  } else {
    own = stored;
  }
  return { ...DEFAULT_CHANNEL_LIMITS, ...own };
}

// The per-location first gate. Without the binding (a deployment that removed it) nothing is
// refused here; the exact limits below still hold.
export async function accountIngressAllowed(env: Env, accountId: string): Promise<boolean> {
  if (!env.CHANNEL_INGRESS) return true;
  const { success } = await env.CHANNEL_INGRESS.limit({ key: accountId });
  return success;
}

// The window of the CHANNEL_INGRESS binding (wrangler.jsonc): how long a refused caller waits.
export const INGRESS_WINDOW_S = 60;

export function ingressRefused(): ApiError {
  return rateLimited(INGRESS_WINDOW_S * 1000, "channel_rate_limited", "This channel account gets too many messages; try again later.");
}

// One exact per-minute count, in the router's RateLimiter Durable Object. Returns null when
// admitted, else how long until one more would be.
export async function takeExact(env: Env, name: string, perMin: number): Promise<number | null> {
  const stub = objectNamed(env, env.LIMITERS, name);
  const grant = await stub.lease({ requests_per_min: perMin }, [0, 0], [1, 0], [1, 0]);
  return grant.ok ? null : Math.max(1, grant.refusal.retryAfterMs);
}

export interface TokenBucket {
  level: number;
  at: number;
}

// A bucket of `burst` tokens refilling at `perMin`: takes one when it can (waitMs null), else
// says how long until one is back. The caller stores `bucket` either way.
export function takeToken(saved: TokenBucket | null, now: number, perMin: number, burst: number): { bucket: TokenBucket; waitMs: number | null } {
  const perMs = perMin / 60_000;
  const level = saved ? Math.min(burst, saved.level + (now - saved.at) * perMs) : burst;
  if (level < 1) return { bucket: { level, at: now }, waitMs: Math.ceil((1 - level) / perMs) };
  return { bucket: { level: level - 1, at: now }, waitMs: null };
}

// 429 with Retry-After (whole seconds, rounded up), in the gateway's error shape.
export function rateLimited(retryAfterMs: number, code: string, message: string): ApiError {
  return new ApiError(429, code, message, { headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterMs / 1000))) } });
}
