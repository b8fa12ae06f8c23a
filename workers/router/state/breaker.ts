// The circuit breaker's state machine, pure so the Durable Object that owns a breaker
// (durable-objects/circuit-breaker.ts) only stores it and serialises calls to it.
//   closed    -> open       after `failures` consecutive failures, or when at least
//                           `min_requests` calls in the last `window_ms` failed at `failure_rate`
//   open      -> half_open  once `open_ms` has passed (on the next check)
//   half_open -> closed     after `half_open_probes` successful probes; -> open on a failed probe
// Only `half_open_probes` probes are out at once; a probe whose result never comes back (its
// isolate died) stops counting after PROBE_LEASE_MS so the breaker cannot stay stuck half-open.
import type { BreakerSettings } from "../../../schema/route-config.ts";

export type BreakerPhase = "closed" | "open" | "half_open";

export interface BreakerState {
  phase: BreakerPhase;
  consecutive: number;
  // Counts per slice of the window (window_ms / SLICES), oldest first.
  slices: { start: number; ok: number; fail: number }[];
  openedAt: number | null;
  openUntil: number;
  probes: number[]; // start times of probes still out
  probeSuccesses: number;
  timesOpened: number;
}

// What an isolate caches: enough to decide locally until it asks again.
export interface BreakerView {
  phase: BreakerPhase;
  openedAt: number | null;
  openUntil: number;
  timesOpened: number;
}

export interface Outcome {
  ok: number;
  fail: number;
  probe: boolean;
}

const SLICES = 10;
const PROBE_LEASE_MS = 30_000;

export function initialBreaker(): BreakerState {
  return { phase: "closed", consecutive: 0, slices: [], openedAt: null, openUntil: 0, probes: [], probeSuccesses: 0, timesOpened: 0 };
}

export function viewOf(s: BreakerState): BreakerView {
  return { phase: s.phase, openedAt: s.openedAt, openUntil: s.openUntil, timesOpened: s.timesOpened };
}

// May a call go through now? A call let through while half-open is a probe and must report.
export function admit(s: BreakerState, cfg: BreakerSettings, now: number): { allowed: boolean; probe: boolean } {
  if (s.phase === "closed") return { allowed: true, probe: false };
  if (s.phase === "open") {
    if (now < s.openUntil) return { allowed: false, probe: false };
    s.phase = "half_open";
    s.probes = [];
    s.probeSuccesses = 0;
  }
  s.probes = s.probes.filter((t) => now - t < PROBE_LEASE_MS);
  if (s.probes.length >= cfg.half_open_probes) return { allowed: false, probe: false };
  s.probes.push(now);
  return { allowed: true, probe: true };
}

export function record(s: BreakerState, cfg: BreakerSettings, now: number, o: Outcome): void {
  if (o.probe) {
    s.probes.shift();
    if (s.phase !== "half_open") return;
    if (o.fail > 0) return trip(s, cfg, now);
    s.probeSuccesses += o.ok;
    if (s.probeSuccesses >= cfg.half_open_probes) close(s);
    return;
  }
  // Results of calls admitted before the breaker opened say nothing about the target now.
  if (s.phase !== "closed") return;
  const slice = Math.max(1, Math.floor(cfg.window_ms / SLICES));
  const start = now - (now % slice);
  s.slices = s.slices.filter((b) => b.start > now - cfg.window_ms);
  let current = s.slices[s.slices.length - 1];
  if (!current || current.start !== start) {
    current = { start, ok: 0, fail: 0 };
    s.slices.push(current);
  }
  current.ok += o.ok;
  current.fail += o.fail;
  // A batch is flushed as soon as it holds a failure, so its successes came first.
  if (o.ok > 0) s.consecutive = 0;
  s.consecutive += o.fail;
  let total = 0;
  let failed = 0;
  for (const b of s.slices) {
    total += b.ok + b.fail;
    failed += b.fail;
  }
  if (s.consecutive >= cfg.failures || (total >= cfg.min_requests && failed / total >= cfg.failure_rate)) {
    trip(s, cfg, now);
  }
}

function trip(s: BreakerState, cfg: BreakerSettings, now: number): void {
  s.phase = "open";
  s.openedAt = now;
  s.openUntil = now + cfg.open_ms;
  s.probes = [];
  s.probeSuccesses = 0;
  s.timesOpened++;
}

function close(s: BreakerState): void {
  s.phase = "closed";
  s.consecutive = 0;
  s.slices = [];
  s.probes = [];
  s.probeSuccesses = 0;
}
