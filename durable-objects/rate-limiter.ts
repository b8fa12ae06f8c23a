// Token buckets (requests/min, tokens/min) for one API key or one tenant, keyed `key:<id>` or
// `tenant:<id>`: one object per counted thing makes the limit exact across isolates. Isolates
// lease slices of the buckets and admit requests from them locally (workers/router/lease.ts);
// the bucket maths is in workers/router/state/token-bucket.ts.
import { DurableObject } from "cloudflare:workers";
import type { RateLimit } from "../schema/route-config.ts";
import { lease, type LimitAmounts, type LimitGrant, type LimiterState } from "../workers/router/state/token-bucket.ts";
import type { Env } from "../workers/env.ts";
import { Persisted } from "./persisted.ts";

export class RateLimiter extends DurableObject<Env> {
  private readonly state: Persisted<LimiterState>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new Persisted<LimiterState>(ctx, () => ({}), { confirmed: false });
  }

  lease(limit: RateLimit, give: LimitAmounts, want: LimitAmounts, need: LimitAmounts | null): LimitGrant {
    const result = lease(this.state.value, limit, Date.now(), give, want, need);
    this.state.save();
    return result;
  }
}
