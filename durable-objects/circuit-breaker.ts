// One circuit breaker, keyed by `<tenant>|<route>|<target path>` (idFromName): every isolate
// asks the same object, so one isolate's failures protect all. The state machine is in
// workers/router/state/breaker.ts; isolates cache the view this returns (workers/router/breakers.ts).
// For /metrics the object mirrors its phase into D1 (workers/metrics/breakers.ts) from its alarm:
// set when the phase changes, or when the row is due a refresh while the breaker is in use. The
// request path never waits on D1. The shared DB is written at most once per MIN_WRITE_MS per
// breaker: a tenant can make its own breaker flap (a failing upstream, a short open_ms), and the
// changes in between are merged into the next write, which carries the latest phase and count.
// A failed write is retried with backoff, MAX_MIRROR_FAILURES times in a row; then the alarm is
// dropped until the next phase change or refresh re-arms it (a region whose D1 lacks the table
// must not retry forever).
import { DurableObject } from "cloudflare:workers";
import type { BreakerSettings } from "../schema/route-config.ts";
import { MAX_MIRROR_FAILURES, MIN_WRITE_MS, mirrorRetryMs, parseBreakerKey, REFRESH_MS, writeBreakerRow } from "../workers/metrics/breakers.ts";
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
  // When the row was last written, and last tried (0: never); failed writes in a row.
  writtenAt: number;
  attemptedAt: number;
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
      const stored = await ctx.storage.get<Partial<Mirror>>("mirror");
      // (attemptedAt is newer than some stored mirrors.)
      this.mirror = { key: null, transitions: 0, changedAt: Date.now(), writtenAt: 0, attemptedAt: 0, failures: 0, pending: false, ...stored };
      this.mirror.attemptedAt ??= this.mirror.writtenAt;
    });
  }

  async check(cfg: BreakerSettings, key?: string): Promise<{ view: BreakerView; allowed: boolean; probe: boolean }> {
    const before = this.state.value.phase;
    const decision = admit(this.state.value, cfg, Date.now());
    if (decision.probe || this.state.value.phase !== before) this.state.save();
    const view = viewOf(this.state.value);
    await this.track(before, key);
    return { view, ...decision };
  }

  async report(cfg: BreakerSettings, outcome: Outcome, key?: string): Promise<BreakerView> {
    const before = this.state.value.phase;
    record(this.state.value, cfg, Date.now(), outcome);
    this.state.save();
    const view = viewOf(this.state.value);
    await this.track(before, key);
    return view;
  }

  async view(key?: string): Promise<BreakerView> {
    const view = viewOf(this.state.value);
    await this.track(this.state.value.phase, key);
    return view;
  }

  // Counts a phase change and sets the alarm that mirrors it; or, when the row has not been
  // tried for REFRESH_MS, sets one to refresh it (the breaker is in use). The alarm is set no
  // sooner than MIN_WRITE_MS after the last write; while one is pending, changes only merge.
  private async track(before: BreakerState["phase"], key: string | undefined): Promise<void> {
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
    const due = m.key !== null && !m.pending && (dirty || now - m.attemptedAt >= REFRESH_MS);
    if (!dirty && !due) return;
    if (!due) {
      void this.ctx.storage.put("mirror", m, { allowUnconfirmed: true });
      return;
    }
    m.pending = true;
    // A new run of retries (after one that gave up).
    m.failures = 0;
    try {
      await this.ctx.storage.put("mirror", m);
      await this.ctx.storage.setAlarm(Math.max(now, m.attemptedAt + MIN_WRITE_MS));
    } catch (err) {
      // No alarm: the next call must try again rather than wait on one that never comes.
      m.pending = false;
      console.error(JSON.stringify({ level: "warn", msg: "breaker mirror alarm not set", error: String(err).slice(0, 200) }));
    }
  }

  async alarm(): Promise<void> {
    const m = this.mirror;
    const parts = m.key === null ? null : parseBreakerKey(m.key);
    // Nothing pending: an alarm left over (a write that already landed, or one given up).
    if (m.key === null || parts === null || !m.pending) return;
    const s = this.state.value;
    const transitions = m.transitions;
    const now = Date.now();
    m.attemptedAt = now;
    try {
      await writeBreakerRow(this.env.DB, m.key, parts, { phase: s.phase, transitions, openUntil: s.openUntil, changedAt: m.changedAt }, now);
      m.failures = 0;
      m.writtenAt = now;
      // A change that came while the write was out is written by one more alarm, MIN_WRITE_MS on.
      m.pending = m.transitions !== transitions;
      await this.ctx.storage.put("mirror", m);
      if (m.pending) await this.ctx.storage.setAlarm(now + MIN_WRITE_MS);
    } catch (err) {
      m.failures++;
      const giveUp = m.failures >= MAX_MIRROR_FAILURES;
      // Given up: the next phase change (or refresh) re-arms it, MIN_WRITE_MS apart at most.
      if (giveUp) m.pending = false;
      await this.ctx.storage.put("mirror", m);
      if (giveUp) await this.ctx.storage.deleteAlarm();
      else await this.ctx.storage.setAlarm(Date.now() + mirrorRetryMs(m.failures));
      console.error(
        JSON.stringify({ level: "warn", msg: giveUp ? "breaker state not mirrored to D1; giving up until its next change" : "breaker state not mirrored to D1; retrying", failures: m.failures, error: String(err).slice(0, 200) }),
      );
    }
  }
}
