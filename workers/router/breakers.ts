// The isolate's side of the circuit breakers. The truth is one Durable Object per breaker key
// (durable-objects/circuit-breaker.ts); each isolate caches the last view it got, so a closed
// breaker costs no round trip: the view is refreshed in the background once it is VIEW_TTL_MS
// old, which bounds how long another isolate's trip takes to reach this one. An open breaker is
// trusted until it may half-open; then (and while half-open) the object decides, so only its
// limited number of probes get through across all isolates. Outcomes are batched: successes are
// flushed every FLUSH_MS, a failure or a probe's result at once. If the object cannot be reached
// the breaker fails open: it must not take traffic down by itself.
// Calls are attributed to a caller (the API key) so one caller's failures cannot open the breaker
// for everyone (state/breaker.ts); the view carries the callers whose own breaker is open.
import type { CircuitBreaker } from "../../durable-objects/circuit-breaker.ts";
import type { BreakerSettings } from "../../schema/route-config.ts";
import type { Env } from "../env.ts";
import { objectNamed } from "../regions/objects.ts";
import { callerOpen, type BreakerView, type Outcome } from "./state/breaker.ts";

const VIEW_TTL_MS = 1_000;
const FLUSH_MS = 250;
// Successful callers remembered per batch (each clears its own breaker's failure count).
const MAX_OK_CALLERS = 32;

interface Local {
  view: BreakerView;
  fetchedAt: number;
  ok: number;
  fail: number;
  okCallers: Set<string>;
  lastFlush: number;
  refreshing: boolean;
}

export class BreakerClient {
  private readonly local = new Map<string, Local>();
  private readonly stub: (key: string) => DurableObjectStub<CircuitBreaker>;

  constructor(stub: (key: string) => DurableObjectStub<CircuitBreaker>) {
    this.stub = stub;
  }

  private store(key: string, view: BreakerView): Local {
    let l = this.local.get(key);
    if (!l) {
      l = { view, fetchedAt: Date.now(), ok: 0, fail: 0, okCallers: new Set(), lastFlush: Date.now(), refreshing: false };
      if (this.local.size > 10_000) this.local.delete(this.local.keys().next().value as string);
      this.local.set(key, l);
    } else {
      l.view = view;
      l.fetchedAt = Date.now();
    }
    return l;
  }

  // The cached phase without asking anyone (for ranking replicas); undefined when never seen.
  peek(key: string): BreakerView | undefined {
    return this.local.get(key)?.view;
  }

  // True when a call is known to be refused without asking the object.
  knownOpen(key: string): boolean {
    const l = this.local.get(key);
    return l !== undefined && l.view.phase === "open" && Date.now() < l.view.openUntil;
  }

  // `caller` refused: this caller's own breaker is open (the target may still serve others).
  async admit(
    key: string,
    cfg: BreakerSettings,
    waitUntil: (p: Promise<unknown>) => void,
    caller?: string | null,
  ): Promise<{ allowed: boolean; probe: boolean; callerRefused?: boolean }> {
    const l = this.local.get(key);
    const now = Date.now();
    if (l && callerOpen(l.view, caller, now)) return { allowed: false, probe: false, callerRefused: true };
    if (l && l.view.phase === "closed") {
      if (now - l.fetchedAt > VIEW_TTL_MS && !l.refreshing) {
        l.refreshing = true;
        waitUntil(
          this.stub(key)
            .view(key)
            .then((view) => this.store(key, view))
            .catch(() => {})
            .finally(() => (l.refreshing = false)),
        );
      }
      return { allowed: true, probe: false };
    }
    if (l && l.view.phase === "open" && now < l.view.openUntil) return { allowed: false, probe: false };
    try {
      const answer = await this.stub(key).check(cfg, key);
      this.store(key, answer.view);
      if (answer.allowed && callerOpen(answer.view, caller, Date.now())) {
        // Hand a probe slot back at once rather than leave it out until its lease ends.
        if (answer.probe) waitUntil(this.flush(key, cfg, { ok: 0, fail: 0, probe: true }));
        return { allowed: false, probe: false, callerRefused: true };
      }
      return { allowed: answer.allowed, probe: answer.probe };
    } catch {
      return { allowed: true, probe: false };
    }
  }

  // Books an outcome; returns the flush to hand to waitUntil, if one is due.
  report(key: string, cfg: BreakerSettings, ok: boolean, probe: boolean, caller?: string | null): Promise<void> | null {
    const who = caller ?? null;
    if (probe) return this.flush(key, cfg, { ok: ok ? 1 : 0, fail: ok ? 0 : 1, probe: true, caller: ok ? null : who, okCallers: ok && who ? [who] : [] });
    const l = this.local.get(key) ?? this.store(key, { phase: "closed", openedAt: null, openUntil: 0, timesOpened: 0, callersOpen: {} });
    if (ok) {
      l.ok++;
      if (who && l.okCallers.size < MAX_OK_CALLERS) l.okCallers.add(who);
    } else l.fail++;
    if (l.fail === 0 && Date.now() - l.lastFlush < FLUSH_MS) return null;
    // A failure is flushed at once, so a batch holds at most one, and it is this caller's.
    const outcome = { ok: l.ok, fail: l.fail, probe: false, caller: l.fail > 0 ? who : null, okCallers: [...l.okCallers] };
    l.ok = 0;
    l.fail = 0;
    l.okCallers.clear();
    l.lastFlush = Date.now();
    return this.flush(key, cfg, outcome);
  }

  private flush(key: string, cfg: BreakerSettings, outcome: Outcome): Promise<void> {
    return this.stub(key)
      .report(cfg, outcome, key)
      .then((view) => void this.store(key, view))
      .catch(() => {});
  }
}

let shared: BreakerClient | undefined;
let sharedEnv: Env | undefined;

// The isolate's client (one cache for every request this isolate serves).
export function breakers(env: Env): BreakerClient {
  sharedEnv = env;
  shared ??= new BreakerClient((key) => objectNamed(sharedEnv!, sharedEnv!.BREAKERS, key));
  return shared;
}

// One breaker per target path (and per replica of a target that has replicas), per tenant.
export function breakerKey(tenantId: string, route: string, path: string, replica?: string): string {
  return `${tenantId}|${route}|${path}${replica === undefined ? "" : `@${replica}`}`;
}
