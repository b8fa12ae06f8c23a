// The account-wide send schedule itself (workers/channels/send-limits.ts), on a fixed clock: the
// burst, the spacing after it, reservations in arrival order, a pause, and what each account's
// limit is. send-limits.test.ts drives the same code through sessions and a fake platform.
import { describe, expect, it } from "vitest";
import { accountSendRateOf, lateGraceMs, pauseSchedule, reserveSlot, type SendSchedule } from "../../workers/channels/send-limits.ts";
import type { AccountConfig } from "../../workers/channels/types.ts";
import { DEFAULT_CHANNEL_LIMITS } from "../../workers/channels/limits.ts";

const fresh = (): SendSchedule => ({ tat: 0, pausedUntil: 0, pauses: 0 });

function account(channel: AccountConfig["channel"], limits: Record<string, number> = {}): AccountConfig {
  return { id: "chn_x", tenantId: "t", channel, apiBaseUrl: null, tokenRef: null, botUsername: null, sendIntervalMs: null, limits: { ...DEFAULT_CHANNEL_LIMITS, ...limits } };
}

describe("account send schedule", () => {
  it("lets the burst go at once, then hands out one slot per interval in arrival order", () => {
    const s = fresh();
    const rate = { perSecond: 10, burst: 3 };
    const waits = Array.from({ length: 6 }, () => reserveSlot(s, rate, 1_000_000));
    expect(waits).toEqual([0, 0, 0, 100, 200, 300]);
    // Later, once the schedule has drained, the bucket is full again.
    expect([reserveSlot(s, rate, 1_010_000), reserveSlot(s, rate, 1_010_000), reserveSlot(s, rate, 1_010_000), reserveSlot(s, rate, 1_010_000)]).toEqual([0, 0, 0, 100]);
  });

  it("never hands out more than burst + rate x window in any window", () => {
    const s = fresh();
    const rate = { perSecond: 20, burst: 5 };
    // 500 callers arriving at random moments within 10 s, each using its slot on time.
    const arrivals = Array.from({ length: 500 }, () => 2_000_000 + Math.floor(Math.random() * 10_000)).sort((a, b) => a - b);
    const slots = arrivals.map((at) => at + reserveSlot(s, rate, at)).sort((a, b) => a - b);
    for (let i = 0; i < slots.length; i++) {
      let j = i;
      while (j < slots.length && (slots[j] as number) < (slots[i] as number) + 1000) j++;
      expect(j - i).toBeLessThanOrEqual(rate.burst + rate.perSecond);
    }
  });

  it("a pause holds every slot until it ends, restarts the bucket empty, and voids earlier reservations", () => {
    const s = fresh();
    const rate = { perSecond: 10, burst: 5 };
    expect(reserveSlot(s, rate, 5_000_000)).toBe(0);
    expect(pauseSchedule(s, rate, 5_003_000)).toBe(true);
    expect(s.pauses).toBe(1);
    // A shorter pause inside the current one changes nothing.
    expect(pauseSchedule(s, rate, 5_002_000)).toBe(false);
    expect(s.pauses).toBe(1);
    expect([reserveSlot(s, rate, 5_000_100), reserveSlot(s, rate, 5_000_100), reserveSlot(s, rate, 5_000_100)]).toEqual([2_900, 3_000, 3_100]);
  });

  it("takes the platform's limit unless the account sets its own; WebChat and hooks have none", () => {
    expect(accountSendRateOf(account("telegram"))).toEqual({ perSecond: 25, burst: 5 });
    expect(accountSendRateOf(account("telegram", { account_sends_per_s: 3 }))).toEqual({ perSecond: 3, burst: 5 });
    expect(accountSendRateOf(account("telegram", { account_sends_per_s: 3, account_send_burst: 1 }))).toEqual({ perSecond: 3, burst: 1 });
    expect(accountSendRateOf(account("webchat"))).toBeNull();
    expect(accountSendRateOf(account("hook"))).toBeNull();
    expect(accountSendRateOf(account("hook", { account_sends_per_s: 2 }))).toEqual({ perSecond: 2, burst: 1 });
    // Late use of a slot is tolerated for two intervals, within bounds.
    expect([lateGraceMs({ perSecond: 25, burst: 5 }), lateGraceMs({ perSecond: 1000, burst: 1 }), lateGraceMs({ perSecond: 1, burst: 1 })]).toEqual([80, 20, 1000]);
  });
});
