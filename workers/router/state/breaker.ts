// The circuit breaker's state machine, pure so the Durable Object that owns a breaker
// (durable-objects/circuit-breaker.ts) only stores it and serialises calls to it.
//   closed    -> open       after `failures` consecutive failures, or when at least
//                           `min_requests` calls in the last `window_ms` failed at `failure_rate`
//   open      -> half_open  once `open_ms` has passed (on the next check)
//   half_open -> closed     after `half_open_probes` successful probes; -> open on a failed probe
// Only `half_open_probes` probes are out at once; a probe whose result never comes back (its
// isolate died) stops counting after PROBE_LEASE_MS so the breaker cannot stay stuck half-open.
//
// Fairness: a breaker is shared by every caller (API key) of a target, so one caller's failing
// requests (a payload that crashes the upstream, say) must not shut the target for the others.
// Failures are attributed to their caller, and one caller counts toward either threshold at most
// half of it: ceil(failures / 2) of a streak, and half of the failure share of the window. So it
// takes at least two callers failing to open the shared breaker (an upstream that is really down
// fails everyone). The caller failing alone gets a breaker of its own instead: after `failures`
// of its calls failed in a row (no success of its own between), it is refused for `open_ms`, then
// one more failure refuses it again, a success clears it. Failures reported without a caller
// count in full, as before. With `failures: 1` a single failure of anyone opens it (asked for).
import type { BreakerSettings } from "../../../schema/route-config.ts";

export type BreakerPhase = "closed" | "open" | "half_open";

export interface BreakerState {
  phase: BreakerPhase;
  consecutive: number;
  // Counts per slice of the window (window_ms / SLICES), oldest first.
  slices: { start: number; ok: number; fail: number; byCaller?: Record<string, number> }[];
  openedAt: number | null;
  openUntil: number;
  probes: number[]; // start times of probes still out
  probeSuccesses: number;
  timesOpened: number;
  // Failures of the current streak per caller (UNATTRIBUTED for unattributed ones).
  streak?: Record<string, number>;
  // Callers' own breakers (bounded to MAX_CALLERS, oldest dropped).
  callers?: Record<string, { fails: number; openUntil: number }>;
}

// What an isolate caches: enough to decide locally until it asks again.
export interface BreakerView {
  phase: BreakerPhase;
  openedAt: number | null;
  openUntil: number;
  timesOpened: number;
  // Callers whose own breaker is open, and until when.
  callersOpen: Record<string, number>;
}

export interface Outcome {
  ok: number;
  fail: number;
  probe: boolean;
  // Who made the failing call(s), and who made the successful ones (as far as the batch kept).
  caller?: string | null;
  okCallers?: string[];
}

const SLICES = 10;
const PROBE_LEASE_MS = 30_000;
const MAX_CALLERS = 64;
// Distinct callers kept per streak and per window slice; beyond it they count unattributed.
const MAX_ATTRIBUTED = 32;
const UNATTRIBUTED = "*";

export function initialBreaker(): BreakerState {
  return { phase: "closed", consecutive: 0, slices: [], openedAt: null, openUntil: 0, probes: [], probeSuccesses: 0, timesOpened: 0 };
}

export function viewOf(s: BreakerState, now = Date.now()): BreakerView {
  const callersOpen: Record<string, number> = {};
  for (const [caller, c] of Object.entries(s.callers ?? {})) if (c.openUntil > now) callersOpen[caller] = c.openUntil;
  return { phase: s.phase, openedAt: s.openedAt, openUntil: s.openUntil, timesOpened: s.timesOpened, callersOpen };
}

// Is this caller's own breaker open (per the view an isolate holds)?
export function callerOpen(view: BreakerView, caller: string | null | undefined, now: number): boolean {
  return caller !== null && caller !== undefined && (view.callersOpen?.[caller] ?? 0) > now;
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
  recordCaller(s, cfg, now, o);
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
  const who = o.caller ?? UNATTRIBUTED;
  if (o.fail > 0) current.byCaller = add(current.byCaller ?? {}, who, o.fail);
  // A batch is flushed as soon as it holds a failure, so its successes came first.
  if (o.ok > 0) {
    s.consecutive = 0;
    s.streak = {};
  }
  s.consecutive += o.fail;
  if (o.fail > 0) s.streak = add(s.streak ?? {}, who, o.fail);
  let total = 0;
  const byCaller: Record<string, number> = {};
  for (const b of s.slices) {
    total += b.ok + b.fail;
    for (const [c, n] of Object.entries(b.byCaller ?? {})) byCaller[c] = (byCaller[c] ?? 0) + n;
  }
  const streak = capped(s.streak ?? {}, Math.ceil(cfg.failures / 2));
  const failed = capped(byCaller, Math.ceil((cfg.failure_rate * total) / 2));
  if (streak >= cfg.failures || (total >= cfg.min_requests && failed / total >= cfg.failure_rate)) {
    trip(s, cfg, now);
  }
}

function add(counts: Record<string, number>, caller: string, n: number): Record<string, number> {
  const key = caller in counts || Object.keys(counts).length < MAX_ATTRIBUTED ? caller : UNATTRIBUTED;
  counts[key] = (counts[key] ?? 0) + n;
  return counts;
}

// Failures counted with each caller's share capped (unattributed ones in full).
function capped(counts: Record<string, number>, cap: number): number {
  let sum = 0;
  for (const [caller, n] of Object.entries(counts)) sum += caller === UNATTRIBUTED ? n : Math.min(n, cap);
  return sum;
}

// The caller's own breaker (see the top of the file).
function recordCaller(s: BreakerState, cfg: BreakerSettings, now: number, o: Outcome): void {
  const callers = (s.callers ??= {});
  for (const caller of o.okCallers ?? []) {
    const c = callers[caller];
    if (c && c.openUntil <= now) delete callers[caller];
  }
  if (!o.caller || o.fail === 0) return;
  const c = callers[o.caller] ?? { fails: 0, openUntil: 0 };
  // A call admitted before the caller's breaker opened says nothing new.
  if (c.openUntil > now) return;
  c.fails += o.fail;
  if (c.fails >= cfg.failures) {
    c.openUntil = now + cfg.open_ms;
    c.fails = cfg.failures - 1;
  }
  // Re-inserted last, so the oldest entries are the ones dropped.
  delete callers[o.caller];
  callers[o.caller] = c;
  const names = Object.keys(callers);
  for (let i = 0; i < names.length - MAX_CALLERS; i++) delete callers[names[i] as string];
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
  s.streak = {};
  s.slices = [];
  s.probes = [];
  s.probeSuccesses = 0;
}
