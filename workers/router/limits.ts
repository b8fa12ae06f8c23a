// Rate limits and budgets around one call. Before it: one request and its worst-case tokens
// (prompt estimate + max_tokens) are reserved from the key's and the tenant's token buckets,
// and its worst-case cost from their spend ledgers, all at once (each in the Durable Object
// that owns the counter, so the limits are exact across isolates); if any refuses, the others
// are given back and the client gets 429 (limits, with Retry-After) or 402 (budgets). After
// it: the reservation is settled with the real usage (tokens given back or taken, the real cost
// charged) off the request path. Token give-backs to one limiter object that pile up while an
// earlier one is on its way are summed into one call (soft state: a bucket only ever holds back
// more than it should, never less, and only for that round trip).
import type { Budget, Priority, RateLimit, RouterConfig } from "../../schema/route-config.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import type { Reservation } from "./state/token-bucket.ts";
import type { SpendDecision } from "./state/spend.ts";

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

const isEmpty = (o: object | undefined) => !o || Object.values(o).every((v) => v === undefined);

export function keySettings(config: RouterConfig, keyId: string): { priority: Priority; limit?: RateLimit; budget?: Budget } {
  const own = config.keys?.[keyId];
  return { priority: own?.priority ?? "normal", limit: own?.limits ?? config.limits?.key, budget: own?.budget ?? config.budgets?.key };
}

export async function reserve(
  env: Env,
  config: RouterConfig,
  who: { tenantId: string; keyId: string },
  requestId: string,
  worst: { tokens: number; microUsd: number },
): Promise<Held> {
  const key = keySettings(config, who.keyId);
  const limiters: Counter<RateLimit>[] = [];
  const budgets: Counter<Budget>[] = [];
  if (!isEmpty(key.limit)) limiters.push({ name: `key:${who.keyId}`, limit: key.limit as RateLimit, scope: "key" });
  if (!isEmpty(config.limits?.tenant)) limiters.push({ name: `tenant:${who.tenantId}`, limit: config.limits?.tenant as RateLimit, scope: "tenant" });
  if (!isEmpty(key.budget)) budgets.push({ name: `key:${who.keyId}`, limit: key.budget as Budget, scope: "key" });
  if (!isEmpty(config.budgets?.tenant)) budgets.push({ name: `tenant:${who.tenantId}`, limit: config.budgets?.tenant as Budget, scope: "tenant" });

  const limiter = (name: string) => env.LIMITERS.get(env.LIMITERS.idFromName(name));
  const ledger = (name: string) => env.BUDGETS.get(env.BUDGETS.idFromName(name));

  const [limitAnswers, budgetAnswers] = await Promise.all([
    Promise.all(limiters.map((c) => limiter(c.name).reserve(c.limit, 1, worst.tokens) as Promise<Reservation>)),
    Promise.all(budgets.map((c) => ledger(c.name).reserve(c.limit, requestId, worst.microUsd) as Promise<SpendDecision>)),
  ]);

  const refusedLimit = limitAnswers.findIndex((a) => !a.ok);
  const refusedBudget = budgetAnswers.findIndex((a) => !a.ok);
  if (refusedLimit !== -1 || refusedBudget !== -1) {
    // Give back what the others granted, then say no.
    await Promise.all([
      ...limiters.map((c, i) => (limitAnswers[i]?.ok ? limiter(c.name).adjust(c.limit, 1, worst.tokens) : undefined)),
      ...budgets.map((c, i) => (budgetAnswers[i]?.ok ? ledger(c.name).settle(requestId, 0) : undefined)),
    ]);
    if (refusedLimit !== -1) {
      const answer = limitAnswers[refusedLimit] as Extract<Reservation, { ok: false }>;
      const scope = (limiters[refusedLimit] as Counter<RateLimit>).scope;
      const seconds = Math.max(1, Math.ceil(answer.retryAfterMs / 1000));
      throw new ApiError(
        429,
        "rate_limit_exceeded",
        answer.impossible
          ? `This request needs more ${answer.which === "tokens_per_min" ? "tokens" : "requests"} than the ${scope}'s ${answer.which} limit allows in a minute: lower max_tokens.`
          : `Rate limit reached for this ${scope} (${answer.which}); retry after ${seconds} s.`,
        { headers: { "retry-after": String(seconds) }, type: "rate_limit_error" },
      );
    }
    const answer = budgetAnswers[refusedBudget] as Extract<SpendDecision, { ok: false }>;
    const scope = (budgets[refusedBudget] as Counter<Budget>).scope;
    throw new ApiError(
      402,
      "budget_exceeded",
      `This ${scope}'s ${answer.period} budget of $${answer.capUsd} would be exceeded by this request (spent $${answer.spentUsd.toFixed(4)}, this request may cost up to $${(worst.microUsd / 1e6).toFixed(4)}).`,
      { type: "insufficient_quota" },
    );
  }

  return {
    async settle(usage, prices) {
      const tokens = usage ? usage.promptTokens + usage.completionTokens : 0;
      const cost = usage ? usage.promptTokens * prices.input + usage.completionTokens * prices.output : 0;
      await Promise.all([
        ...limiters.map((c) => giveBack(env, c.name, c.limit, worst.tokens - tokens)),
        ...budgets.map((c) => ledger(c.name).settle(requestId, cost)),
      ]);
    },
  };
}

interface PendingGiveBack {
  limit: RateLimit;
  tokens: number;
}

// Per limiter object: the tokens waiting to be given back while a give-back is on its way.
const pending = new Map<string, PendingGiveBack>();

function giveBack(env: Env, name: string, limit: RateLimit, tokens: number): Promise<void> {
  if (tokens === 0) return Promise.resolve();
  const waiting = pending.get(name);
  if (waiting) {
    // The call on its way sends this too once it is back (with the newest limit).
    waiting.limit = limit;
    waiting.tokens += tokens;
    return Promise.resolve();
  }
  const batch: PendingGiveBack = { limit, tokens };
  pending.set(name, batch);
  const stub = env.LIMITERS.get(env.LIMITERS.idFromName(name));
  return (async () => {
    try {
      while (batch.tokens !== 0) {
        const amount = batch.tokens;
        batch.tokens = 0;
        await stub.adjust(batch.limit, 0, amount);
      }
    } finally {
      pending.delete(name);
    }
  })();
}
