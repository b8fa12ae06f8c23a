// Platform-wide send limits (docs/channels.md, "Platform-wide send limits"): a platform limits a
// bot account as a whole (Telegram ~30 messages/s across all chats), and every chat of the bot
// is its own session Durable Object, so no session can keep that count alone. One SendLimiter
// Durable Object per account (durable-objects/send-limiter.ts) keeps it; each session's outbox
// asks it once before each send.
//
// The limiter hands out reservations, not just yes/no: a refused caller is told when its slot
// is (the slot is taken for it), re-arms its alarm for then, and at that time redeems its ticket
// (a second RPC, granted unless the slot became void) and sends. Sessions therefore never poll a
// full bucket (200 refused chats do not all retry at the same instant), the order of slots is
// first come first served across chats (a chat with many queued replies takes one slot per send,
// behind the others already waiting), and a send costs one RPC (two when it had to wait). A
// platform's rate-limit answer (429 with Retry-After) pauses the whole account:
// every reservation handed out before it is void (its holder asks again and queues behind the
// pause), so all chats of the bot wait, not just the one that got the 429. A reservation used
// too late is void too (lateGraceMs), so late wakers cannot bunch up into a burst.
import type { SessionHost } from "../../durable-objects/session-store.ts";
import { channelAdapters } from "./index.ts";
import type { AccountConfig, AccountSendRate } from "./types.ts";
import { objectNamed } from "../regions/objects.ts";

// What the limiter keeps for one account. `tat` is the GCRA "theoretical arrival time": the
// moment the bucket would be empty again if every slot handed out so far were used.
export interface SendSchedule {
  tat: number;
  pausedUntil: number;
  // Bumped by every pause: reservations carry the epoch they were handed out in.
  pauses: number;
}

// One answer of the limiter: go now (waitMs 0), or the slot reserved for the caller, `waitMs`
// from now, redeemed by presenting `ticket` then.
export interface SendGrant {
  waitMs: number;
  ticket: string | null;
}

// A platform asking for an hour's pause (Telegram's flood waits can) would hold every chat of the
// bot that long; the session that got the answer still honours all of it for its own send.
export const MAX_ACCOUNT_PAUSE_MS = 10 * 60_000;
// A limiter that cannot be reached: the send waits this long and asks again (never sent blind).
const LIMITER_UNREACHABLE_WAIT_MS = 1_000;

// The account's limit: its own values (limits.account_sends_per_s / account_send_burst) over the
// platform's. null: no account-wide limit at all (WebChat, hooks), and no call is made.
export function accountSendRateOf(account: AccountConfig): AccountSendRate | null {
  const platform = channelAdapters[account.channel].accountSendRate;
  const perSecond = account.limits?.account_sends_per_s ?? platform?.perSecond;
  if (perSecond === undefined) return null;
  const burst = account.limits?.account_send_burst ?? platform?.burst ?? 1;
  return { perSecond, burst };
}

function intervalMs(rate: AccountSendRate): number {
  return 1000 / rate.perSecond;
}

// How late a reservation may still be used. A slot used late would go out together with the
// slots after it (a busy isolate wakes several sessions late at once, and they would all send
// at that moment): beyond this it is void, and the caller takes a new one. Two intervals, so at
// most two extra sends can land in any window.
export function lateGraceMs(rate: AccountSendRate): number {
  return Math.min(1000, Math.max(20, 2 * intervalMs(rate)));
}

// GCRA with reservations: takes the caller's slot (now, or the first free one) and says when it
// is. At most `burst` sends go at once, then one every 1/perSecond: in any window of W seconds
// at most burst + perSecond x W.
export function reserveSlot(s: SendSchedule, rate: AccountSendRate, now: number): number {
  const interval = intervalMs(rate);
  const tolerance = (Math.max(1, rate.burst) - 1) * interval;
  const base = Math.max(s.tat, now);
  const at = Math.max(now, base - tolerance, s.pausedUntil);
  s.tat = Math.max(base, at) + interval;
  return Math.ceil(at - now);
}

// A slot now or none: true takes it (like reserveSlot answering 0); false reserves nothing, so a
// caller that skips instead of waiting (a streamed reply's intermediate edit) never holds a slot
// a send could have used.
export function takeSlotNow(s: SendSchedule, rate: AccountSendRate, now: number): boolean {
  const interval = intervalMs(rate);
  const tolerance = (Math.max(1, rate.burst) - 1) * interval;
  const base = Math.max(s.tat, now);
  if (Math.max(now, base - tolerance, s.pausedUntil) > now) return false;
  s.tat = base + interval;
  return true;
}

// The platform said "wait": nothing goes before `until`, and the bucket restarts empty then (one
// slot at `until`, then one per interval), since the platform's own count is full.
export function pauseSchedule(s: SendSchedule, rate: AccountSendRate, until: number): boolean {
  if (until <= s.pausedUntil) return false;
  s.pausedUntil = until;
  s.tat = until + (Math.max(1, rate.burst) - 1) * intervalMs(rate);
  s.pauses++;
  return true;
}

// A reservation the session holds (its meta `account_slot`): redeemed at `at` with `ticket`.
interface HeldSlot {
  ticket: string;
  at: number;
}

// The earliest time this session's next send may go as far as the account limit knows (0: now).
export function heldSlotAt(s: SessionHost): number {
  return s.meta<HeldSlot>("account_slot")?.at ?? 0;
}

function limiterOf(s: SessionHost, account: AccountConfig) {
  return objectNamed(s.env, s.env.SEND_LIMITERS, account.id);
}

// Before a send: 0 to send now, else how long to wait (a slot is reserved for then, and
// heldSlotAt() says when). One RPC, none for an account without a limit.
export async function accountSendWait(s: SessionHost, account: AccountConfig): Promise<number> {
  const rate = accountSendRateOf(account);
  if (!rate) return 0;
  const held = s.meta<HeldSlot>("account_slot");
  let grant: SendGrant;
  try {
    grant = await limiterOf(s, account).take(rate, held?.ticket ?? null);
  } catch (err) {
    console.error(JSON.stringify({ level: "warn", msg: "send limiter unreachable", account: account.id, error: String(err) }));
    grant = { waitMs: LIMITER_UNREACHABLE_WAIT_MS, ticket: null };
  }
  if (grant.waitMs <= 0) {
    if (held) s.setMeta("account_slot", null);
    return 0;
  }
  // Without a ticket (limiter unreachable) the held time is only a retry time: the next ask takes
  // a fresh slot.
  s.setMeta("account_slot", { ticket: grant.ticket ?? "", at: Date.now() + grant.waitMs } satisfies HeldSlot);
  return grant.waitMs;
}

// Before a best-effort call that is skipped rather than delayed (a streamed reply's intermediate
// edit): true when the account's limit has a slot right now (taken), false when it has none or
// the limiter cannot be reached. One RPC, none for an account without a limit.
export async function accountSlotNow(s: SessionHost, account: AccountConfig): Promise<boolean> {
  const rate = accountSendRateOf(account);
  if (!rate) return true;
  try {
    return await limiterOf(s, account).tryTake(rate);
  } catch (err) {
    console.error(JSON.stringify({ level: "warn", msg: "send limiter unreachable", account: account.id, error: String(err) }));
    return false;
  }
}

// After a send the platform refused with a rate-limit answer: every chat of the account waits.
// Best effort: the session's own backoff already honours the answer for its send.
export async function pauseAccount(s: SessionHost, account: AccountConfig, retryAfterMs: number): Promise<void> {
  const rate = accountSendRateOf(account);
  if (!rate || retryAfterMs <= 0) return;
  try {
    await limiterOf(s, account).pause(rate, Math.min(retryAfterMs, MAX_ACCOUNT_PAUSE_MS));
  } catch (err) {
    console.error(JSON.stringify({ level: "warn", msg: "send limiter pause failed", account: account.id, error: String(err) }));
  }
}
