// The spend ledger of one tenant or one API key (`tenant:<id>`, `key:<id>`): reservations before
// calls, settlements after, per UTC day and month. The ledger rules are in
// workers/router/state/spend.ts.
import { DurableObject } from "cloudflare:workers";
import type { Budget } from "../schema/route-config.ts";
import { initialSpend, reserveSpend, settleSpend, type SpendDecision, type SpendState } from "../workers/router/state/spend.ts";
import type { Env } from "../workers/env.ts";
import { Persisted } from "./persisted.ts";

export class SpendBudget extends DurableObject<Env> {
  private readonly state: Persisted<SpendState>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new Persisted(ctx, () => initialSpend(Date.now()));
  }

  reserve(caps: Budget, requestId: string, microUsd: number): SpendDecision {
    const decision = reserveSpend(this.state.value, caps, Date.now(), requestId, microUsd);
    if (decision.ok) this.state.save();
    return decision;
  }

  settle(requestId: string, microUsd: number): void {
    if (settleSpend(this.state.value, Date.now(), requestId, microUsd)) this.state.save();
  }

  spent(): { day: string; dayUsd: number; month: string; monthUsd: number } {
    const s = this.state.value;
    return { day: s.day, dayUsd: s.daySpent / 1e6, month: s.month, monthUsd: s.monthSpent / 1e6 };
  }
}
