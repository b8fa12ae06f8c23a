// Token buckets (requests/min, tokens/min) for one API key or one tenant, keyed `key:<id>` or
// `tenant:<id>`: one object per counted thing makes the limit exact across isolates. The bucket
// maths is in workers/router/state/token-bucket.ts.
import { DurableObject } from "cloudflare:workers";
import type { RateLimit } from "../schema/route-config.ts";
import { adjust, reserve, type LimiterState, type Reservation } from "../workers/router/state/token-bucket.ts";
import type { Env } from "../workers/env.ts";
import { Persisted } from "./persisted.ts";

export class RateLimiter extends DurableObject<Env> {
  private readonly state: Persisted<LimiterState>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new Persisted<LimiterState>(ctx, () => ({}), { confirmed: false });
  }

  reserve(limit: RateLimit, requests: number, tokens: number): Reservation {
    const result = reserve(this.state.value, limit, Date.now(), requests, tokens);
    this.state.save();
    return result;
  }

  adjust(limit: RateLimit, requests: number, tokens: number): void {
    adjust(this.state.value, limit, Date.now(), requests, tokens);
    this.state.save();
  }
}
