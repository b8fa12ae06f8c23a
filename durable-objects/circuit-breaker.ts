// One circuit breaker, keyed by `<tenant>|<route>|<target path>` (idFromName): every isolate
// asks the same object, so one isolate's failures protect all. The state machine is in
// workers/router/state/breaker.ts; isolates cache the view this returns (workers/router/breakers.ts).
import { DurableObject } from "cloudflare:workers";
import type { BreakerSettings } from "../schema/route-config.ts";
import { admit, initialBreaker, record, viewOf, type BreakerState, type BreakerView, type Outcome } from "../workers/router/state/breaker.ts";
import type { Env } from "../workers/env.ts";
import { Persisted } from "./persisted.ts";

export class CircuitBreaker extends DurableObject<Env> {
  private readonly state: Persisted<BreakerState>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new Persisted(ctx, initialBreaker, { confirmed: false });
  }

  check(cfg: BreakerSettings): { view: BreakerView; allowed: boolean; probe: boolean } {
    const before = this.state.value.phase;
    const decision = admit(this.state.value, cfg, Date.now());
    if (decision.probe || this.state.value.phase !== before) this.state.save();
    return { view: viewOf(this.state.value), ...decision };
  }

  report(cfg: BreakerSettings, outcome: Outcome): BreakerView {
    record(this.state.value, cfg, Date.now(), outcome);
    this.state.save();
    return viewOf(this.state.value);
  }

  view(): BreakerView {
    return viewOf(this.state.value);
  }
}
