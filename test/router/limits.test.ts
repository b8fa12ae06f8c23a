// Rate limits (requests/min, tokens/min per key and per tenant) and budgets (spend per day and
// month), held in Durable Objects: exact under concurrency, 429 with Retry-After, 402 for
// budgets, reservations settled with real usage.
import { beforeAll, describe, expect, it } from "vitest";
import { admin, chat, expectStatus } from "../gateway/helpers.ts";
import { ask, makeRouterTenant, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

async function newKey(): Promise<{ key: string; id: string }> {
  const res = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "limited" }), 201);
  return { key: res.body.key, id: res.body.id };
}

describe("rate limits", () => {
  it("admits exactly requests_per_min requests of a key under concurrency, then 429 with Retry-After", async () => {
    const k = await newKey();
    await setConfig(t, { keys: { [k.id]: { limits: { requests_per_min: 10 } } } });
    const answers = await Promise.all(Array.from({ length: 25 }, () => chat(k.key, { model: "fake-echo", ...ask() })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(15);
    expect(refused[0]?.body.error.code).toBe("rate_limit_exceeded");
    expect(Number(refused[0]?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("reserves max_tokens against tokens_per_min and gives back what was not used", async () => {
    const k = await newKey();
    await setConfig(t, { keys: { [k.id]: { limits: { tokens_per_min: 1000 } } } });
    // Reserves ~26 prompt + 900: a second one at once cannot fit.
    const [a, b] = await Promise.all([0, 1].map(() => chat(k.key, { model: "fake-echo", ...ask(), max_tokens: 900 })));
    expect([a?.status, b?.status].sort()).toEqual([200, 429]);
    // The first used 14 tokens, so once settled most of the bucket is back.
    await new Promise((r) => setTimeout(r, 100));
    expect((await chat(k.key, { model: "fake-echo", ...ask(), max_tokens: 900 })).status).toBe(200);
    const impossible = await chat(k.key, { model: "fake-echo", ...ask(), max_tokens: 5000 });
    expect(impossible.status).toBe(429);
    expect(impossible.body.error.message).toContain("lower max_tokens");
  });

  it("limits the tenant across its keys", async () => {
    const [k1, k2] = [await newKey(), await newKey()];
    await setConfig(t, { limits: { tenant: { requests_per_min: 4 } } });
    const answers = await Promise.all([k1, k2, k1, k2, k1, k2, k1, k2].map((k) => chat(k.key, { model: "fake-echo", ...ask() })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(4);
    await setConfig(t, {});
  });
});

describe("budgets", () => {
  it("never lets 50 concurrent requests spend past the cap", async () => {
    const k = await newKey();
    const name = "priced";
    // 1 USD per token either way; fake usage is 11 + 3 tokens = 14 USD per call; the worst case
    // reserved per call is (~26 prompt + 10 max_tokens) USD.
    await setConfig(t, {
      routes: { [name]: { tree: target("fake-echo", { input_price_per_mtok: 1_000_000, output_price_per_mtok: 1_000_000 }) } },
      keys: { [k.id]: { budget: { daily_usd: 200 } } },
    });
    const answers = await Promise.all(Array.from({ length: 50 }, () => chat(k.key, { model: name, ...ask(), max_tokens: 10 })));
    const ok = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status === 402);
    expect(ok + refused.length).toBe(50);
    expect(ok).toBeGreaterThan(0);
    expect(refused[0]?.body.error.code).toBe("budget_exceeded");
    await new Promise((r) => setTimeout(r, 200));
    const spend = expectStatus(await admin(t.owner, "GET", `/router-config/spend?tenant_id=${t.tenantId}&key_id=${k.id}`), 200);
    expect(spend.body.day_usd).toBeLessThanOrEqual(200);
    expect(spend.body.day_usd).toBeCloseTo(ok * 14, 6);
    await setConfig(t, {});
  });

  it("applies a tenant budget to every key and refuses with a clear code", async () => {
    await setConfig(t, {
      routes: { pricey: { tree: target("fake-echo", { output_price_per_mtok: 1_000_000 }) } },
      budgets: { tenant: { monthly_usd: 5 } },
    });
    const res = await chat(t.key, { model: "pricey", ...ask(), max_tokens: 10 });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: "budget_exceeded", type: "insufficient_quota" });
    expect(res.body.error.message).toContain("monthly budget of $5");
    await setConfig(t, {});
  });
});
