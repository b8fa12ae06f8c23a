// Rate limits and budgets around one call. Before it: one request and its worst-case tokens
// (reservation.ts, the rule every kind of model call shares: the prompt estimate with its margin
// + max_tokens) are taken from the key's and the tenant's token buckets, and its worst-case cost
// from their spend allowances, all at once. Each counter belongs to a
// Durable Object (so the limits are exact across isolates), but the isolate holds a lease on
// it (lease.ts): a slice of the bucket or of the budget that the object granted, from which
// requests are admitted without a round trip; the object is asked only to top the slice up
// (in the background while it still covers requests) and when it cannot cover one. If any
// counter refuses, what the others granted goes back into their slices and the client gets 429
// (limits, with Retry-After) or 402 (budgets). After the call the reservation is settled with
// the real usage against the slices: unused tokens and money go back into them, and the real
// cost is reported to the budget objects in batches (waitUntil), which stay the record.
import type { Budget, Priority, RateLimit, RouterConfig } from "../../schema/route-config.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { LeaseHolder, type Admission, type LeaseTerms } from "./lease.ts";
import type { BudgetRefusal } from "./state/spend.ts";
import { periods } from "./state/spend.ts";
import type { LimitAmounts, LimitRefusal } from "./state/token-bucket.ts";
import { objectNamed } from "../regions/objects.ts";
import { endWhenSettled, sampledChild, type Span } from "../observability/trace.ts";

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface Held {
  // Settles with real usage at the serving target's prices (null usage: nothing was spent).
  settle(usage: Usage | null, prices: { input: number; output: number }): Promise<void>;
}

interface Counter<L> {
  name: string; // the object's key
  limit: L;
  scope: "key" | "tenant";
}

// A slice nobody used for this long goes back to its object, so other isolates can have it.
const LEASE_TTL_MS = 5_000;
// Spend is reported to a budget object at most this often per isolate.
const FLUSH_MS = 50;
// A top-up asks for this share of the limit (more when the waiting requests need more).
const CHUNK = 0.1;

const isEmpty = (o: object | undefined) => !o || Object.values(o).every((v) => v === undefined);

export function keySettings(config: RouterConfig, keyId: string): { priority: Priority; limit?: RateLimit; budget?: Budget } {
  const own = config.keys?.[keyId];
  return { priority: own?.priority ?? "normal", limit: own?.limits ?? config.limits?.key, budget: own?.budget ?? config.budgets?.key };
}

// The isolate's leases, by counter object.
const holders = new Map<string, unknown>();
// This isolate's name at the budget objects (they book allowances per holder).
let holderId: string | undefined;

function holder<R>(name: string, dims: number): LeaseHolder<R> {
  let h = holders.get(name) as LeaseHolder<R> | undefined;
  if (!h) {
    h = new LeaseHolder<R>(dims, { ttlMs: LEASE_TTL_MS, flushMs: FLUSH_MS });
    if (holders.size > 10_000) holders.delete(holders.keys().next().value as string);
    holders.set(name, h);
  }
  return h;
}

// The limits stage of a call (/v1 or an agent's): a `gateway.limits` span under the active one when
// the trace is sampled (ids and counts only: never the key, its id or the limit objects' names).
export function reserve(
  env: Env,
  config: RouterConfig,
  who: { tenantId: string; keyId: string },
  worst: { tokens: number; microUsd: number },
  waitUntil: (p: Promise<unknown>) => void,
): Promise<Held> {
  const span = sampledChild("gateway.limits", "internal");
  return endWhenSettled(span, reserveAll(env, config, who, worst, waitUntil, span));
}

async function reserveAll(
  env: Env,
  config: RouterConfig,
  who: { tenantId: string; keyId: string },
  worst: { tokens: number; microUsd: number },
  waitUntil: (p: Promise<unknown>) => void,
  span: Span | null,
): Promise<Held> {
  const key = keySettings(config, who.keyId);
  const limiters: Counter<RateLimit>[] = [];
  const budgets: Counter<Budget>[] = [];
  if (!isEmpty(key.limit)) limiters.push({ name: `key:${who.keyId}`, limit: key.limit as RateLimit, scope: "key" });
  if (!isEmpty(config.limits?.tenant)) limiters.push({ name: `tenant:${who.tenantId}`, limit: config.limits?.tenant as RateLimit, scope: "tenant" });
  if (!isEmpty(key.budget)) budgets.push({ name: `key:${who.keyId}`, limit: key.budget as Budget, scope: "key" });
  if (!isEmpty(config.budgets?.tenant)) budgets.push({ name: `tenant:${who.tenantId}`, limit: config.budgets?.tenant as Budget, scope: "tenant" });
  span
    ?.set("edgeclaw.limits.rate_limits", limiters.map((c) => c.scope).join(",") || "none")
    .set("edgeclaw.limits.budgets", budgets.map((c) => c.scope).join(",") || "none")
    .set("edgeclaw.limits.reserved_tokens", worst.tokens)
    .set("edgeclaw.limits.reserved_usd", budgets.length > 0 ? worst.microUsd / 1e6 : null);

  const need: LimitAmounts = [1, worst.tokens];
  // A request bigger than a whole minute's allowance can never pass: no need to ask anyone.
  for (const c of limiters) {
    const refusal = impossible(c.limit, need);
    if (refusal) {
      span?.set("edgeclaw.limits.refused", refusal.which).set("edgeclaw.limits.refused_scope", c.scope);
      throw limitError(refusal, c.scope);
    }
  }
  holderId ??= crypto.randomUUID();
  const owner = holderId;
  const epoch = epochOf(Date.now());
  const limitTerms = (c: Counter<RateLimit>): LeaseTerms<LimitRefusal> => ({
    chunk: [chunkOf(c.limit.requests_per_min), chunkOf(c.limit.tokens_per_min)],
    call: (x) => objectNamed(env, env.LIMITERS, c.name).lease(c.limit, x.give as LimitAmounts, x.want as LimitAmounts, x.need as LimitAmounts | null),
    waitUntil,
  });
  const budgetTerms = (c: Counter<Budget>): LeaseTerms<BudgetRefusal> => ({
    chunk: [Math.min(chunkOf(c.limit.daily_usd) ?? Infinity, chunkOf(c.limit.monthly_usd) ?? Infinity) * 1e6],
    call: async (x) => {
      const answer = await objectNamed(env, env.BUDGETS, c.name).lease(c.limit, owner, x.give[0]!, x.report, x.want[0]!, x.need ? x.need[0]! : null);
      return answer.ok ? { ok: true, granted: answer.granted } : answer;
    },
    waitUntil,
    epoch,
  });
  const lim = limiters.map((c) => ({ c, h: holder<LimitRefusal>(`limit:${c.name}`, 2), terms: limitTerms(c) }));
  const bud = budgets.map((c) => ({ c, h: holder<BudgetRefusal>(`budget:${c.name}`, 1), terms: budgetTerms(c) }));
  const [limitAnswers, budgetAnswers] = await Promise.all([
    Promise.all(lim.map((l) => l.h.take(need, l.terms))),
    Promise.all(bud.map((b) => b.h.take([worst.microUsd], b.terms))),
  ]);

  const refusedLimit = limitAnswers.findIndex((a) => !a.ok);
  const refusedBudget = budgetAnswers.findIndex((a) => !a.ok);
  if (refusedLimit !== -1 || refusedBudget !== -1) {
    // What the others granted goes back into their slices.
    lim.forEach((l, i) => settleOne(limitAnswers[i], (e) => l.h.settle(need, 0, e, l.terms)));
    bud.forEach((b, i) => settleOne(budgetAnswers[i], (e) => b.h.settle([worst.microUsd], 0, e, b.terms)));
    if (refusedLimit !== -1) {
      const answer = limitAnswers[refusedLimit] as Extract<Admission<LimitRefusal>, { ok: false }>;
      const scope = (limiters[refusedLimit] as Counter<RateLimit>).scope;
      span?.set("edgeclaw.limits.refused", answer.refusal.which).set("edgeclaw.limits.refused_scope", scope);
      throw limitError(answer.refusal, scope);
    }
    const answer = (budgetAnswers[refusedBudget] as Extract<Admission<BudgetRefusal>, { ok: false }>).refusal;
    const scope = (budgets[refusedBudget] as Counter<Budget>).scope;
    span?.set("edgeclaw.limits.refused", `budget_${answer.period}`).set("edgeclaw.limits.refused_scope", scope);
    throw new ApiError(
      402,
      "budget_exceeded",
      `This ${scope}'s ${answer.period} budget of $${answer.capUsd} would be exceeded by this request (spent $${answer.spentUsd.toFixed(4)}, this request may cost up to $${(worst.microUsd / 1e6).toFixed(4)}).`,
      { type: "insufficient_quota" },
    );
  }

  let settled = false;
  return {
    async settle(usage, prices) {
      if (settled) return;
      settled = true;
      const tokens = usage ? usage.promptTokens + usage.completionTokens : 0;
      const cost = usage ? usage.promptTokens * prices.input + usage.completionTokens * prices.output : 0;
      lim.forEach((l, i) => settleOne(limitAnswers[i], (e) => l.h.settle([0, worst.tokens - tokens], 0, e, l.terms)));
      bud.forEach((b, i) => settleOne(budgetAnswers[i], (e) => b.h.settle([worst.microUsd - cost], cost, e, b.terms)));
    },
  };
}

function settleOne<R>(admission: Admission<R> | undefined, settle: (epoch: string) => void): void {
  if (admission?.ok) settle(admission.epoch);
}

const chunkOf = (limit: number | undefined) => (limit === undefined ? null : limit * CHUNK);

// A budget allowance belongs to the UTC day and month it was granted in.
function epochOf(now: number): string {
  const p = periods(now);
  return `${p.day}|${p.month}`;
}

function impossible(limit: RateLimit, need: LimitAmounts): LimitRefusal | null {
  if (limit.requests_per_min !== undefined && need[0] > limit.requests_per_min) return { which: "requests_per_min", retryAfterMs: 60_000, impossible: true };
  if (limit.tokens_per_min !== undefined && need[1] > limit.tokens_per_min) return { which: "tokens_per_min", retryAfterMs: 60_000, impossible: true };
  return null;
}

function limitError(refusal: LimitRefusal, scope: "key" | "tenant"): ApiError {
  const seconds = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  return new ApiError(
    429,
    "rate_limit_exceeded",
    refusal.impossible
      ? `This request needs more ${refusal.which === "tokens_per_min" ? "tokens" : "requests"} than the ${scope}'s ${refusal.which} limit allows in a minute: lower max_tokens.`
      : `Rate limit reached for this ${scope} (${refusal.which}); retry after ${seconds} s.`,
    { headers: { "retry-after": String(seconds) }, type: "rate_limit_error" },
  );
}
