// The ingress limits a session enforces itself (docs/channels.md, "Ingress limits"): the
// account's new-session cap on its first message or socket, its inbox cap, and its own message
// rate. The session Durable Object (durable-objects/session.ts) asks these in accept() and on a
// WebChat upgrade; the account-wide gates before it are in limits.ts and routes.ts.
import { INBOX_FULL_RETRY_MS, refused, type AcceptResult, type SessionHost } from "../../durable-objects/session-store.ts";
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

// Why accept() refuses a new (not duplicate) message, or null to record it: the account's
// new-session cap (only before the session's first message), the inbox cap, then the session's
// own message rate.
export async function acceptRefusal(s: SessionHost, admission: NewSessionAdmission, account: AccountConfig): Promise<AcceptResult | null> {
  const limits = channelLimitsOf(account.limits);
  if (s.meta<number>("created_at") === null) {
    const wait = await admission.admit(account.id, limits.new_sessions_per_min);
    if (wait !== null) return refused("too_many_new_sessions", "This account opens too many new conversations; try again later.", wait);
  }
  const queued = s.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM inbox WHERE state = 'queued'").one().n;
  if (queued >= limits.inbox_max) return refused("inbox_full", `This conversation already has ${queued} messages waiting for an answer.`, INBOX_FULL_RETRY_MS);
  const wait = takePeerToken(s, limits.peer_messages_per_min, limits.peer_burst);
  if (wait !== null) return refused("session_rate_limited", "Too many messages in this conversation; slow down.", wait);
  return null;
}

// The session's own message rate: a token bucket of `burst` messages refilling at `perMin`,
// kept in meta (the object serialises accepts, so it is exact). null when a token was taken.
function takePeerToken(s: SessionHost, perMin: number, burst: number): number | null {
  const taken = takeToken(s.meta<TokenBucket>("peer_bucket"), Date.now(), perMin, burst);
  s.setMeta("peer_bucket", taken.bucket);
  return taken.waitMs;
}
