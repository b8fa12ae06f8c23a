// Spend caps per day and per month (UTC), pure so the budget Durable Object
// (durable-objects/budget.ts) only stores the ledger. Isolates do not reserve per call here:
// each holds an allowance (a lease, workers/router/lease.ts) granted from what is left under
// both caps, reserves every call's worst case from it locally, and reports what was really
// spent in batches. The ledger counts an open allowance as spent until it is reported or given
// back, so the allowances of all isolates together never pass a cap: concurrent calls cannot
// overspend. Amounts are micro-USD.
import type { Budget } from "../../../schema/route-config.ts";

export interface Hold {
  // Allowance still open (negative: the holder reported more than it was granted, a call that
  // cost more than its worst-case estimate).
  amount: number;
  day: string;
  month: string;
  at: number;
}

export interface SpendState {
  day: string;
  daySpent: number; // reported spend plus open allowances booked this day
  month: string;
  monthSpent: number;
  // Open allowances by holder (one per isolate and ledger).
  held: Record<string, Hold>;
}

export interface BudgetRefusal {
  period: "daily" | "monthly";
  capUsd: number;
  spentUsd: number;
}

export type SpendGrant = { ok: true; granted: [number] } | { ok: false; refusal: BudgetRefusal };

// A holder not heard of for this long is gone (its isolate died): its entry is dropped and its
// open allowance stays counted as spent, because what it spent unreported is unknown.
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

// One exchange with a holder: `report` is what its calls really cost since the last exchange,
// `give` the allowance it hands back (negative when its calls cost more than reserved), then up
// to `want` more is granted from what both caps leave; with `need` (the smallest call waiting),
// a grant that cannot cover it is refused instead.
export function leaseSpend(s: SpendState, caps: Budget, now: number, holder: string, give: number, report: number, want: number, need: number | null): SpendGrant {
  roll(s, now);
  const h = s.held[holder];
  const before = h ? h.amount : 0;
  const after = before - report - give;
  // What the holder has committed is its reported spend plus its open allowance (never less
  // than what it reported): book the change to each period the allowance was booked in. An
  // allowance from an earlier period is closed: its reports count to the current period and its
  // give-backs no longer matter there.
  const change = report + Math.max(after, 0) - Math.max(before, 0);
  s.daySpent += h && h.day === s.day ? change : report;
  s.monthSpent += h && h.month === s.month ? change : report;
  const current = h && h.day === s.day && h.month === s.month ? after : 0;
  let granted = 0;
  if (want > 0) {
    const left = Math.min(
      caps.daily_usd === undefined ? Infinity : caps.daily_usd * 1e6 - s.daySpent,
      caps.monthly_usd === undefined ? Infinity : caps.monthly_usd * 1e6 - s.monthSpent,
    );
    if (need !== null && left < need) {
      save(s, holder, current, now);
      const daily = caps.daily_usd !== undefined && s.daySpent + need > caps.daily_usd * 1e6;
      return {
        ok: false,
        refusal: daily
          ? { period: "daily", capUsd: caps.daily_usd as number, spentUsd: settled(s, "day") / 1e6 }
          : { period: "monthly", capUsd: caps.monthly_usd as number, spentUsd: settled(s, "month") / 1e6 },
      };
    }
    granted = Math.max(0, Math.min(want, left));
    s.daySpent += granted;
    s.monthSpent += granted;
  }
  save(s, holder, current + granted, now);
  return { ok: true, granted: [granted] };
}

function save(s: SpendState, holder: string, amount: number, now: number): void {
  if (Math.abs(amount) < 1e-6) delete s.held[holder];
  else s.held[holder] = { amount, day: s.day, month: s.month, at: now };
}

// Reported spend of the current day or month: the ledger minus the allowances still open.
export function settled(s: SpendState, period: "day" | "month"): number {
  let open = 0;
  for (const h of Object.values(s.held)) if (h[period] === s[period]) open += Math.max(h.amount, 0);
  return Math.max(0, (period === "day" ? s.daySpent : s.monthSpent) - open);
}

export function spentNow(s: SpendState, now: number): { day: string; dayUsd: number; month: string; monthUsd: number } {
  roll(s, now);
  return { day: s.day, dayUsd: settled(s, "day") / 1e6, month: s.month, monthUsd: settled(s, "month") / 1e6 };
}
