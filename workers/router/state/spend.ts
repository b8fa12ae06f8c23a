// Spend caps per day and per month (UTC), pure so the budget Durable Object
// (durable-objects/budget.ts) only stores the ledger. A call reserves its worst-case cost
// (prompt estimate + max_tokens at the route's highest prices) before it is made, and is settled
// with its real cost afterwards, keyed by request id: a settle that comes twice counts once, and
// concurrent calls can never spend past a cap because each one's worst case is already held.
// Amounts are micro-USD.
import type { Budget } from "../../../schema/route-config.ts";

export interface SpendState {
  day: string;
  daySpent: number;
  month: string;
  monthSpent: number;
  // Open reservations by request id: amount and the periods it was booked to.
  held: Record<string, { amount: number; day: string; month: string; at: number }>;
}

export type SpendDecision =
  | { ok: true; daySpent: number; monthSpent: number }
  | { ok: false; period: "daily" | "monthly"; capUsd: number; spentUsd: number };

// A reservation nobody settled (its isolate died) is released after this long.
const HOLD_MS = 15 * 60_000;

export function periods(now: number): { day: string; month: string } {
  const iso = new Date(now).toISOString();
  return { day: iso.slice(0, 10), month: iso.slice(0, 7) };
}

export function initialSpend(now: number): SpendState {
  const p = periods(now);
  return { day: p.day, daySpent: 0, month: p.month, monthSpent: 0, held: {} };
}

function roll(s: SpendState, now: number): void {
  const p = periods(now);
  if (p.day !== s.day) {
    s.day = p.day;
    s.daySpent = 0;
  }
  if (p.month !== s.month) {
    s.month = p.month;
    s.monthSpent = 0;
  }
  for (const [id, h] of Object.entries(s.held)) {
    if (now - h.at > HOLD_MS) delete s.held[id];
  }
}

export function reserveSpend(s: SpendState, caps: Budget, now: number, requestId: string, amount: number): SpendDecision {
  roll(s, now);
  if (caps.daily_usd !== undefined && s.daySpent + amount > caps.daily_usd * 1e6) {
    return { ok: false, period: "daily", capUsd: caps.daily_usd, spentUsd: s.daySpent / 1e6 };
  }
  if (caps.monthly_usd !== undefined && s.monthSpent + amount > caps.monthly_usd * 1e6) {
    return { ok: false, period: "monthly", capUsd: caps.monthly_usd, spentUsd: s.monthSpent / 1e6 };
  }
  s.daySpent += amount;
  s.monthSpent += amount;
  s.held[requestId] = { amount, day: s.day, month: s.month, at: now };
  return { ok: true, daySpent: s.daySpent, monthSpent: s.monthSpent };
}

// Replaces a reservation with the real cost (0 when the call failed). Unknown ids are ignored,
// which makes a repeated settle harmless.
export function settleSpend(s: SpendState, now: number, requestId: string, actual: number): boolean {
  roll(s, now);
  const h = s.held[requestId];
  if (!h) return false;
  delete s.held[requestId];
  if (h.day === s.day) s.daySpent += actual - h.amount;
  else s.daySpent += actual;
  if (h.month === s.month) s.monthSpent += actual - h.amount;
  else s.monthSpent += actual;
  s.daySpent = Math.max(0, s.daySpent);
  s.monthSpent = Math.max(0, s.monthSpent);
  return true;
}
