// Token buckets for requests/min and tokens/min, pure so the rate limiter Durable Object
// (durable-objects/rate-limiter.ts) only stores them and serialises calls. A bucket holds up to
// one minute's allowance and refills continuously. Isolates do not reserve per request here:
// they lease a slice of the bucket (workers/router/lease.ts) and admit requests from it locally,
// so the object only ever grants what the bucket holds and the limit stays exact across
// isolates. A lease handed back refills the bucket (never past its capacity); a negative
// give-back (a call used more than it reserved) takes from it, so a bucket may go negative and
// later callers wait for the refill.
import type { RateLimit } from "../../../schema/route-config.ts";

export interface Bucket {
  level: number;
  at: number;
}

export interface LimiterState {
  requests?: Bucket;
  tokens?: Bucket;
}

export interface LimitRefusal {
  retryAfterMs: number;
  which: "requests_per_min" | "tokens_per_min";
  impossible: boolean;
}

// [requests, tokens]
export type LimitAmounts = [number, number];

export type LimitGrant = { ok: true; granted: LimitAmounts } | { ok: false; refusal: LimitRefusal };

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

// One exchange with a lease holder: takes back `give` (negative: takes more), then grants up to
// `want` of what the buckets hold. With `need` (the smallest request waiting on the holder), a
// grant that cannot cover it is refused instead, with when it could be.
export function lease(s: LimiterState, limit: RateLimit, now: number, give: LimitAmounts, want: LimitAmounts, need: LimitAmounts | null): LimitGrant {
  const dims = [
    { cap: limit.requests_per_min, key: "requests", which: "requests_per_min" },
    { cap: limit.tokens_per_min, key: "tokens", which: "tokens_per_min" },
  ] as const;
  const buckets: (Bucket | undefined)[] = dims.map((d, i) => {
    if (d.cap === undefined) return undefined;
    const b = refill(s[d.key], d.cap, now);
    b.level = Math.min(d.cap, b.level + give[i]!);
    s[d.key] = b;
    return b;
  });
  if (need) {
    for (const [i, d] of dims.entries()) {
      const b = buckets[i];
      if (b && d.cap !== undefined && b.level < need[i]!) {
        return { ok: false, refusal: { which: d.which, retryAfterMs: waitFor(b, d.cap, need[i]!), impossible: need[i]! > d.cap } };
      }
    }
  }
  const granted: LimitAmounts = [0, 0];
  for (const i of [0, 1]) {
    const b = buckets[i];
    if (!b) continue;
    granted[i] = Math.max(0, Math.min(want[i]!, b.level));
    b.level -= granted[i];
  }
  return { ok: true, granted };
}
