// The spend ledger of one tenant or one API key (`tenant:<id>`, `key:<id>`), per UTC day and
// month: allowances granted to isolates (workers/router/lease.ts), their reported spend and
// give-backs. The ledger rules are in workers/router/state/spend.ts. Writes are confirmed before
// the answer: an isolate spends an allowance only once the ledger holds it.
import { DurableObject } from "cloudflare:workers";
import type { Budget } from "../schema/route-config.ts";
import { initialSpend, leaseSpend, spentNow, type SpendGrant, type SpendState } from "../workers/router/state/spend.ts";
import type { Env } from "../workers/env.ts";
import { Persisted } from "./persisted.ts";

export class SpendBudget extends DurableObject<Env> {
  private readonly state: Persisted<SpendState>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new Persisted(ctx, () => initialSpend(Date.now()));
  }

  lease(caps: Budget, holder: string, give: number, report: number, want: number, need: number | null): SpendGrant {
    const result = leaseSpend(this.state.value, caps, Date.now(), holder, give, report, want, need);
    this.state.save();
    return result;
  }

  spent(): { day: string; dayUsd: number; month: string; monthUsd: number } {
    return spentNow(this.state.value, Date.now());
  }
}
