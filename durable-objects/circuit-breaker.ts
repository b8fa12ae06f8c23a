// One circuit breaker, keyed by `<tenant>|<route>|<target path>` (idFromName): every isolate
// asks the same object, so one isolate's failures protect all. The state machine is in
// workers/router/state/breaker.ts; isolates cache the view this returns (workers/router/breakers.ts).
// For /metrics the object mirrors its phase into D1 (workers/metrics/breakers.ts) from its alarm:
// set when the phase changes, or when the row is due a refresh while the breaker is in use. The
// request path never waits on D1; a failed write re-arms the alarm with backoff until it lands.
import { DurableObject } from "cloudflare:workers";
import type { BreakerSettings } from "../schema/route-config.ts";
import { mirrorRetryMs, parseBreakerKey, REFRESH_MS, writeBreakerRow } from "../workers/metrics/breakers.ts";
import { isObjectNamed } from "../workers/regions/objects.ts";
import { admit, initialBreaker, record, viewOf, type BreakerState, type BreakerView, type Outcome } from "../workers/router/state/breaker.ts";
import type { Env } from "../workers/env.ts";
import { Persisted } from "./persisted.ts";

// What the object knows about its D1 row. `key` is learnt from the first caller that names it
// (checked against this object's id); without it nothing is mirrored.
interface Mirror {
  key: string | null;
  transitions: number;
  changedAt: number;
  // When the row was last written (0: never), and failed writes since.
  writtenAt: number;
  failures: number;
  // An alarm is set for a write.
  pending: boolean;
}

export class CircuitBreaker extends DurableObject<Env> {
  private readonly state: Persisted<BreakerState>;
  private mirror!: Mirror;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new Persisted(ctx, initialBreaker, { confirmed: false });
    void ctx.blockConcurrencyWhile(async () => {
      this.mirror = (await ctx.storage.get<Mirror>("mirror")) ?? { key: null, transitions: 0, changedAt: Date.now(), writtenAt: 0, failures: 0, pending: false };
    });
  }

  check(cfg: BreakerSettings, key?: string): { view: BreakerView; allowed: boolean; probe: boolean } {
    const before = this.state.value.phase;
    const decision = admit(this.state.value, cfg, Date.now());
    if (decision.probe || this.state.value.phase !== before) this.state.save();
    this.track(before, key);
    return { view: viewOf(this.state.value), ...decision };
  }

  report(cfg: BreakerSettings, outcome: Outcome, key?: string): BreakerView {
    const before = this.state.value.phase;
    record(this.state.value, cfg, Date.now(), outcome);
    this.state.save();
    this.track(before, key);
    return viewOf(this.state.value);
  }

  view(key?: string): BreakerView {
    this.track(this.state.value.phase, key);
    return viewOf(this.state.value);
  }

  // Counts a phase change and sets the alarm that mirrors it; or, when the row has not been
  // written for REFRESH_MS, sets one to refresh it (the breaker is in use).
  private track(before: BreakerState["phase"], key: string | undefined): void {
    const m = this.mirror;
    const now = Date.now();
    let dirty = false;
    if (m.key === null && key !== undefined && parseBreakerKey(key) && isObjectNamed(this.env, this.env.BREAKERS, key, this.ctx.id)) {
      m.key = key;
      dirty = true;
    }
    if (this.state.value.phase !== before) {
      m.transitions++;
      m.changedAt = now;
      dirty = true;
    }
    const due = m.key !== null && !m.pending && (dirty || now - m.writtenAt >= REFRESH_MS);
    if (due) m.pending = true;
    if (dirty || due) void this.ctx.storage.put("mirror", m, { allowUnconfirmed: true });
    if (due) void this.ctx.storage.setAlarm(now);
  }

  async alarm(): Promise<void> {
    const m = this.mirror;
    const parts = m.key === null ? null : parseBreakerKey(m.key);
    if (m.key === null || parts === null) return;
    const s = this.state.value;
    const transitions = m.transitions;
    const now = Date.now();
    try {
      await writeBreakerRow(this.env.DB, m.key, parts, { phase: s.phase, transitions, openUntil: s.openUntil, changedAt: m.changedAt }, now);
      m.failures = 0;
      m.writtenAt = now;
      // A change that came while the write was out is written by one more alarm.
      m.pending = m.transitions !== transitions;
      await this.ctx.storage.put("mirror", m);
      if (m.pending) await this.ctx.storage.setAlarm(Date.now());
    } catch (err) {
      m.failures++;
      await this.ctx.storage.put("mirror", m);
      await this.ctx.storage.setAlarm(Date.now() + mirrorRetryMs(m.failures));
      console.error(JSON.stringify({ level: "warn", msg: "breaker state not mirrored to D1; retrying", failures: m.failures, error: String(err).slice(0, 200) }));
    }
  }
}
