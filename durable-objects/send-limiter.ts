// SendLimiter: one per channel account (named by the account id), the account-wide send limit
// every session of the account asks before a send (workers/channels/send-limits.ts has the
// logic and the why). Its schedule is soft state kept in memory: an object is only evicted after
// a quiet spell, when the bucket has refilled anyway, and a new instance voids the reservations
// of the old one (their tickets name the instance), so a restart never lets both the old
// reservations and a fresh burst through. Only a pause is written to storage: it may outlast an
// eviction, and the platform's "wait" must hold until it ends.
import { DurableObject } from "cloudflare:workers";
import { lateGraceMs, pauseSchedule, reserveSlot, takeSlotNow, type SendGrant, type SendSchedule } from "../workers/channels/send-limits.ts";
import type { AccountSendRate } from "../workers/channels/types.ts";
import type { Env } from "../workers/env.ts";

export class SendLimiter extends DurableObject<Env> {
  private readonly schedule: SendSchedule = { tat: 0, pausedUntil: 0, pauses: 0 };
  private readonly instance = crypto.randomUUID();
  // Calls answered by this instance (inspection: tests and operators).
  private takes = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.schedule.pausedUntil = (await ctx.storage.get<number>("paused_until")) ?? 0;
    });
  }

  private epoch(): string {
    return `${this.instance}:${this.schedule.pauses}`;
  }

  // A slot for one send: now (waitMs 0), or reserved `waitMs` from now and redeemed then with the
  // ticket. A ticket of an earlier instance, from before a pause, or presented too late is void:
  // a new slot is taken.
  take(rate: AccountSendRate, ticket: string | null): SendGrant {
    this.takes++;
    const now = Date.now();
    if (ticket !== null) {
      const cut = ticket.lastIndexOf("@");
      const at = Number(ticket.slice(cut + 1));
      if (cut > 0 && ticket.slice(0, cut) === this.epoch() && Number.isFinite(at) && now <= at + lateGraceMs(rate)) {
        return at <= now ? { waitMs: 0, ticket: null } : { waitMs: at - now, ticket };
      }
    }
    const waitMs = reserveSlot(this.schedule, rate, now);
    return waitMs <= 0 ? { waitMs: 0, ticket: null } : { waitMs, ticket: `${this.epoch()}@${now + waitMs}` };
  }

  // A slot now or nothing (a streamed reply's intermediate edit skips rather than waits): nothing
  // is reserved when the answer is false.
  tryTake(rate: AccountSendRate): boolean {
    this.takes++;
    return takeSlotNow(this.schedule, rate, Date.now());
  }

  // The platform answered a send of this account with "wait `ms`": nobody sends before then.
  async pause(rate: AccountSendRate, ms: number): Promise<void> {
    if (pauseSchedule(this.schedule, rate, Date.now() + ms)) await this.ctx.storage.put("paused_until", this.schedule.pausedUntil);
  }

  state(): { pausedUntil: number; takes: number } {
    return { pausedUntil: this.schedule.pausedUntil, takes: this.takes };
  }
}
