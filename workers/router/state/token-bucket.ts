// Token buckets for requests/min and tokens/min, pure so the rate limiter Durable Object
// (durable-objects/rate-limiter.ts) only stores them and serialises calls. A bucket holds up to
// one minute's allowance and refills continuously. Tokens are reserved from max_tokens before a
// call and the difference to real usage is given back (or taken) afterwards, so a bucket may go
// negative when a call used more than it reserved: later callers then wait for the refill.
import type { RateLimit } from "../../../schema/route-config.ts";

export interface Bucket {
  level: number;
  at: number;
}

export interface LimiterState {
  requests?: Bucket;
  tokens?: Bucket;
}

export type Reservation =
  | { ok: true }
  | { ok: false; retryAfterMs: number; which: "requests_per_min" | "tokens_per_min"; impossible: boolean };

const MINUTE = 60_000;

function refill(bucket: Bucket | undefined, capacity: number, now: number): Bucket {
  if (!bucket) return { level: capacity, at: now };
  const level = Math.min(capacity, bucket.level + ((now - bucket.at) * capacity) / MINUTE);
  return { level, at: now };
}

// Milliseconds until `bucket` holds `amount` again.
function waitFor(bucket: Bucket, capacity: number, amount: number): number {
  return Math.ceil(((amount - bucket.level) * MINUTE) / capacity);
}

export function reserve(s: LimiterState, limit: RateLimit, now: number, requests: number, tokens: number): Reservation {
  const rpm = limit.requests_per_min;
  const tpm = limit.tokens_per_min;
  const r = rpm === undefined ? undefined : refill(s.requests, rpm, now);
  const t = tpm === undefined ? undefined : refill(s.tokens, tpm, now);
  if (r && rpm !== undefined && r.level < requests) {
    s.requests = r;
    return { ok: false, which: "requests_per_min", retryAfterMs: waitFor(r, rpm, requests), impossible: requests > rpm };
  }
  if (t && tpm !== undefined && t.level < tokens) {
    s.tokens = t;
    return { ok: false, which: "tokens_per_min", retryAfterMs: waitFor(t, tpm, tokens), impossible: tokens > tpm };
  }
  if (r) s.requests = { level: r.level - requests, at: now };
  if (t) s.tokens = { level: t.level - tokens, at: now };
  return { ok: true };
}

// Gives back (positive) or takes (negative) tokens once real usage is known, and gives back a
// whole reservation (requests too) when another limiter refused the call.
export function adjust(s: LimiterState, limit: RateLimit, now: number, requests: number, tokens: number): void {
  if (limit.requests_per_min !== undefined && requests !== 0) {
    const r = refill(s.requests, limit.requests_per_min, now);
    s.requests = { level: Math.min(limit.requests_per_min, r.level + requests), at: now };
  }
  if (limit.tokens_per_min !== undefined && tokens !== 0) {
    const t = refill(s.tokens, limit.tokens_per_min, now);
    s.tokens = { level: Math.min(limit.tokens_per_min, t.level + tokens), at: now };
  }
}
