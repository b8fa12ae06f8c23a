// Leases on the limiter and budget objects, with two holders standing for two isolates against
// the same object: together they never admit more than the object holds, a slice left unused
// goes back to the object when it expires, and reported spend reaches the ledger.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { uid } from "../gateway/helpers.ts";
import { LeaseHolder, type Admission, type LeaseTerms } from "../../workers/router/lease.ts";
import type { BudgetRefusal } from "../../workers/router/state/spend.ts";
import type { LimitAmounts, LimitRefusal } from "../../workers/router/state/token-bucket.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function background() {
  const pending: Promise<unknown>[] = [];
  return { waitUntil: (p: Promise<unknown>) => void pending.push(p.catch(() => {})), drain: () => Promise.all(pending) };
}

function limiterTerms(name: string, tokensPerMin: number, chunk: number, waitUntil: (p: Promise<unknown>) => void): LeaseTerms<LimitRefusal> {
  const limit = { tokens_per_min: tokensPerMin };
  return {
    chunk: [null, chunk],
    call: (x) => env.LIMITERS.get(env.LIMITERS.idFromName(name)).lease(limit, x.give as LimitAmounts, x.want as LimitAmounts, x.need as LimitAmounts | null),
    waitUntil,
  };
}

describe("leased token buckets", () => {
  it("two holders never admit more than the bucket holds in total", async () => {
    const name = `key:${uid("lease")}`;
    const bg = background();
    const terms = limiterTerms(name, 1000, 100, bg.waitUntil);
    const holders = [new LeaseHolder<LimitRefusal>(2, { ttlMs: 60_000, flushMs: 50 }), new LeaseHolder<LimitRefusal>(2, { ttlMs: 60_000, flushMs: 50 })];
    // 40 requests of 50 tokens, alternating between the two: the bucket holds 20 of them.
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => holders[i % 2]!.take([1, 50], terms)));
    const admitted = answers.filter((a) => a.ok).length;
    expect(admitted).toBeLessThanOrEqual(20);
    expect(admitted).toBeGreaterThanOrEqual(10);
    const refused = answers.find((a): a is Extract<Admission<LimitRefusal>, { ok: false }> => !a.ok);
    expect(refused?.refusal.which).toBe("tokens_per_min");
    // More requests later, through either holder, still stay inside the bucket.
    const more = await Promise.all(Array.from({ length: 10 }, (_, i) => holders[i % 2]!.take([1, 50], terms)));
    expect(admitted + more.filter((a) => a.ok).length).toBeLessThanOrEqual(21);
    await bg.drain();
  });

  it("gives an expired slice's unused tokens back to the object", async () => {
    const name = `key:${uid("lease")}`;
    const bg = background();
    const terms = limiterTerms(name, 1000, 500, bg.waitUntil);
    const a = new LeaseHolder<LimitRefusal>(2, { ttlMs: 200, flushMs: 50 });
    const b = new LeaseHolder<LimitRefusal>(2, { ttlMs: 200, flushMs: 50 });
    // A takes a 500-token slice for a 100-token request: 400 sit unused in A's slice.
    expect((await a.take([1, 100], terms)).ok).toBe(true);
    // B cannot have 800 while A holds its slice (the lease under-admits, never over-admits)...
    expect((await b.take([1, 800], terms)).ok).toBe(false);
    // ...but once A's slice expires its 400 go back, and B gets them.
    await sleep(400);
    expect((await b.take([1, 800], terms)).ok).toBe(true);
    await bg.drain();
  });

  it("reconciles real usage against the slice: unused tokens serve the next request", async () => {
    const name = `key:${uid("lease")}`;
    const bg = background();
    const terms = limiterTerms(name, 1000, 100, bg.waitUntil);
    const h = new LeaseHolder<LimitRefusal>(2, { ttlMs: 60_000, flushMs: 50 });
    const first = await h.take([1, 900], terms);
    expect(first.ok).toBe(true);
    expect((await h.take([1, 900], terms)).ok).toBe(false);
    // The first used 20 of its 900: the 880 go back into the slice, so a second 900 fits.
    if (first.ok) h.settle([0, 880], 0, first.epoch, terms);
    expect((await h.take([1, 900], terms)).ok).toBe(true);
    await bg.drain();
  });
});

describe("leased budgets", () => {
  it("two holders never pass the cap, and their reported spend reaches the ledger", async () => {
    const name = `key:${uid("lease")}`;
    const caps = { daily_usd: 10 };
    const bg = background();
    const stub = () => env.BUDGETS.get(env.BUDGETS.idFromName(name));
    const terms = (holder: string): LeaseTerms<BudgetRefusal> => ({
      chunk: [1e6],
      call: async (x) => {
        const answer = await stub().lease(caps, holder, x.give[0]!, x.report, x.want[0]!, x.need ? x.need[0]! : null);
        return answer.ok ? { ok: true, granted: answer.granted } : answer;
      },
      waitUntil: bg.waitUntil,
      epoch: "today",
    });
    const holders = [
      { h: new LeaseHolder<BudgetRefusal>(1, { ttlMs: 1_000, flushMs: 20 }), t: terms("isolate-a") },
      { h: new LeaseHolder<BudgetRefusal>(1, { ttlMs: 1_000, flushMs: 20 }), t: terms("isolate-b") },
    ];
    // 30 calls whose worst case is $1 against a $10 cap: at most 10 at once.
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => holders[i % 2]!.h.take([1e6], holders[i % 2]!.t)));
    const admitted = answers.map((a, i) => ({ a, i })).filter(({ a }) => a.ok);
    expect(admitted.length).toBeLessThanOrEqual(10);
    expect(admitted.length).toBeGreaterThan(0);
    const refused = answers.find((a): a is Extract<Admission<BudgetRefusal>, { ok: false }> => !a.ok);
    expect(refused?.refusal).toMatchObject({ period: "daily", capUsd: 10 });
    // Each really cost $0.25: settled locally, reported in a batch.
    for (const { a, i } of admitted) if (a.ok) holders[i % 2]!.h.settle([0.75e6], 0.25e6, a.epoch, holders[i % 2]!.t);
    await sleep(200);
    expect((await stub().spent()).dayUsd).toBeCloseTo(admitted.length * 0.25, 6);
    // Once the slices expire the allowances go back: the ledger holds only what was spent.
    await bg.drain();
    expect((await stub().spent()).dayUsd).toBeCloseTo(admitted.length * 0.25, 6);
    const after = await stub().lease(caps, "isolate-c", 0, 0, 10e6, 10e6 - admitted.length * 0.25e6);
    expect(after.ok).toBe(true);
  });
});
