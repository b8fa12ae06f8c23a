// The ingress limits a session enforces itself (docs/channels.md, "Ingress limits"): the
// account's new-session cap on its first message or socket, its inbox cap, and its own message
// rate. The session Durable Object (durable-objects/session.ts) asks these in accept() and on a
// WebChat upgrade; the account-wide gates before it are in limits.ts and routes.ts.
import { INBOX_FULL_RETRY_MS, refused, type AcceptResult } from "../../durable-objects/session-store.ts";
import type { Env } from "../env.ts";
import { channelLimitsOf, takeExact, takeToken, type TokenBucket } from "./limits.ts";
import type { AccountConfig } from "./types.ts";

export class NewSessionAdmission {
  // A first message's new-session admission in flight: concurrent first messages share it, so
  // one new session costs the account one unit of its cap.
  private admitting: Promise<number | null> | null = null;
  private readonly env: Env;

  constructor(env: Env) {
    this.env = env;
  }

  // The account's new-session cap (exact, in a RateLimiter Durable Object): null when admitted.
  admit(accountId: string, perMin: number): Promise<number | null> {
    if (!this.admitting) {
      this.admitting = takeExact(this.env, `chan-sessions:${accountId}`, perMin).finally(() => {
        this.admitting = null;
      });
    }
    return this.admitting;
  }
}

// The account's new-session cap, asked only before a session's first message: the refusal, or
// null when admitted. An async round trip to another object, so accept() asks it before its
// one synchronous transaction.
export async function newSessionRefusal(admission: NewSessionAdmission, account: AccountConfig): Promise<AcceptResult | null> {
  const wait = await admission.admit(account.id, channelLimitsOf(account.limits).new_sessions_per_min);
  return wait === null ? null : refused("too_many_new_sessions", "This account opens too many new conversations; try again later.", wait);
}

// Why accept() refuses a message it has just inserted (inside the same transaction, which the
// refusal rolls back): the inbox cap (`queued` counts the new message), then the session's own
// message rate, a token bucket of `peer_burst` messages refilling at `peer_messages_per_min`
// (the object serialises accepts, so it is exact). `bucket` is what the caller stores when the
// message is accepted.
export function sessionRefusal(account: AccountConfig, queued: number, saved: TokenBucket | null, now: number): { refusal: AcceptResult | null; bucket: TokenBucket } {
  const limits = channelLimitsOf(account.limits);
  if (queued > limits.inbox_max) {
    return { refusal: refused("inbox_full", `This conversation already has ${queued - 1} messages waiting for an answer.`, INBOX_FULL_RETRY_MS), bucket: saved ?? { level: limits.peer_burst, at: now } };
  }
  const taken = takeToken(saved, now, limits.peer_messages_per_min, limits.peer_burst);
  if (taken.waitMs !== null) return { refusal: refused("session_rate_limited", "Too many messages in this conversation; slow down.", taken.waitMs), bucket: taken.bucket };
  return { refusal: null, bucket: taken.bucket };
}
