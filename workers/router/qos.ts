// Per-isolate quality of service per tenant and target path (two tenants may both have a route
// "chat" with a target "chat/0": their statistics must not mix): EWMAs of time to first byte, time per output
// token and error rate, which scale a weighted node's configured weights (a slower or failing
// child gets less traffic, never none, so it is still measured), and in-flight counts, which
// with priority classes decide who is admitted to a saturated target.
import type { Priority } from "../../schema/route-config.ts";

interface Stats {
  ttftMs: number | null;
  perTokenMs: number | null;
  errorRate: number;
  inflight: number;
}

const ALPHA = 0.2;
const ERROR_ALPHA = 0.1;
// A reply of this many tokens is what latencies are compared on.
const NOMINAL_TOKENS = 100;
// The least share of its weight a child keeps, however bad it looks.
const FLOOR = 0.02;
// Share of max_concurrency each class may fill: low traffic is shed first, high last.
const ADMIT_SHARE: Record<Priority, number> = { low: 0.5, normal: 0.8, high: 1 };

const stats = new Map<string, Stats>();

function get(key: string): Stats {
  let s = stats.get(key);
  if (!s) {
    s = { ttftMs: null, perTokenMs: null, errorRate: 0, inflight: 0 };
    if (stats.size > 10_000) stats.delete(stats.keys().next().value as string);
    stats.set(key, s);
  }
  return s;
}

const ewma = (prev: number | null, sample: number, alpha = ALPHA) => (prev === null ? sample : prev + alpha * (sample - prev));

// Statistics are per tenant and path; in-flight counts are keyed by breaker key (tenant included).
const statsKey = (tenantId: string, path: string) => `${tenantId}\n${path}`;

export function recordSuccess(tenantId: string, path: string, ttftMs: number, totalMs: number, completionTokens: number): void {
  const s = get(statsKey(tenantId, path));
  s.ttftMs = ewma(s.ttftMs, ttftMs);
  if (completionTokens > 0) s.perTokenMs = ewma(s.perTokenMs, Math.max(0, totalMs - ttftMs) / completionTokens);
  s.errorRate = ewma(s.errorRate, 0, ERROR_ALPHA);
}

export function recordFailure(tenantId: string, path: string): void {
  const s = get(statsKey(tenantId, path));
  s.errorRate = ewma(s.errorRate, 1, ERROR_ALPHA);
}

function expectedMs(s: Stats | undefined): number | null {
  if (!s || s.ttftMs === null) return null;
  return s.ttftMs + (s.perTokenMs ?? 0) * NOMINAL_TOKENS;
}

// Configured weights scaled by health: (1 - error rate)^2 times best latency / own latency
// among the siblings that have been measured (unmeasured ones keep their weight).
export function effectiveWeights(tenantId: string, children: { path: string; weight: number }[]): number[] {
  const latencies = children.map((c) => expectedMs(stats.get(statsKey(tenantId, c.path))));
  const measured = latencies.filter((l): l is number => l !== null);
  const best = measured.length > 0 ? Math.max(1, Math.min(...measured)) : null;
  return children.map((c, i) => {
    const s = stats.get(statsKey(tenantId, c.path));
    const health = (1 - (s?.errorRate ?? 0)) ** 2;
    const latency = latencies[i];
    const speed = best !== null && latency !== null && latency !== undefined ? best / Math.max(best, latency) : 1;
    return c.weight * Math.max(FLOOR, health * speed);
  });
}

// Weighted random order without replacement (Efraimidis-Spirakis): the first is the pick, the
// rest are where a failure goes next.
export function weightedOrder<T>(items: T[], weights: number[], random = Math.random): T[] {
  return items
    .map((item, i) => ({ item, key: random() ** (1 / Math.max(1e-9, weights[i] ?? 1)) }))
    .sort((a, b) => b.key - a.key)
    .map((x) => x.item);
}

export function inflight(key: string): number {
  return stats.get(key)?.inflight ?? 0;
}

// Takes a slot when the target (or replica) has room for this priority class; `queued` is load
// the target reports itself (its queue depth), which counts against the same limit.
export function tryAcquire(key: string, maxConcurrency: number | undefined, priority: Priority, queued = 0): boolean {
  const s = get(key);
  if (maxConcurrency !== undefined && s.inflight + queued >= Math.max(1, Math.floor(maxConcurrency * ADMIT_SHARE[priority]))) return false;
  s.inflight++;
  return true;
}

export function release(key: string): void {
  const s = get(key);
  s.inflight = Math.max(0, s.inflight - 1);
}

export function snapshot(key: string): { ttft_ms: number | null; per_token_ms: number | null; error_rate: number; inflight: number } {
  const s = stats.get(key);
  return { ttft_ms: s?.ttftMs ?? null, per_token_ms: s?.perTokenMs ?? null, error_rate: s?.errorRate ?? 0, inflight: s?.inflight ?? 0 };
}
