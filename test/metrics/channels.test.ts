// GET /metrics series of the gateway's refusals and of channels: a rate-limited and a
// budget-refused /v1 call are counted in their own counters (from the usage rollups); a reply the
// platform refuses for good (Telegram's 403, the user blocked the bot) becomes a dead letter,
// counted per (tenant, channel) until it is dropped; inbox/outbox depth per (tenant, channel) is
// the sum of what the channel's sessions mirrored into D1, 0 for an account with nothing queued.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, chat, expectStatus, uid } from "../gateway/helpers.ts";
import { deliver, dmUpdate, newChatId, newUpdateId, scenarioModel, sentTo, setupTelegram } from "../channels/helpers.ts";
import { ask, makeRouterTenant, setConfig, target } from "../router/helpers.ts";
import { usageRowsFor } from "../usage/helpers.ts";
import { value, type Family } from "./prometheus.ts";
import { scrape, until } from "./helpers.ts";

describe("rejection counters", () => {
  it("count a rate-limited call and a budget-refused call per tenant and model", { timeout: 60_000 }, async () => {
    const t = await makeRouterTenant();
    await setConfig(t, {
      routes: { pricey: { tree: target("fake-echo", { output_price_per_mtok: 1_000_000 }) } },
      limits: { tenant: { requests_per_min: 1 } },
      budgets: { tenant: { monthly_usd: 5 } },
    });
    const ids = { ok: uid("req-ok"), limited: uid("req-429"), budget: uid("req-402") };
    // The budget's refusal hands its request back to the limit (limits.ts); the one allowed
    // request a minute then goes to the next call, and the third is rate-limited.
    const budget = await chat(t.key, { model: "pricey", ...ask(), max_tokens: 10 }, { "x-request-id": ids.budget });
    expect(budget.status).toBe(402);
    expect(budget.body.error.code).toBe("budget_exceeded");
    expect((await chat(t.key, { model: "fake-echo", ...ask() }, { "x-request-id": ids.ok })).status).toBe(200);
    const limited = await chat(t.key, { model: "fake-echo", ...ask() }, { "x-request-id": ids.limited });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limit_exceeded");
    for (const id of Object.values(ids)) expect(await usageRowsFor(id)).toHaveLength(1);

    const families = await scrape();
    expect(families.get("edgeclaw_rate_limit_rejections_total")?.type).toBe("counter");
    expect(value(families, "edgeclaw_rate_limit_rejections_total", { tenant: t.tenantId, model: "fake-echo" })).toBe(1);
    expect(value(families, "edgeclaw_budget_rejections_total", { tenant: t.tenantId, model: "pricey" })).toBe(1);
    expect(value(families, "edgeclaw_budget_rejections_total", { tenant: t.tenantId, model: "fake-echo" })).toBeUndefined();
    expect(value(families, "edgeclaw_rate_limit_rejections_total", { tenant: t.tenantId, model: "pricey" })).toBeUndefined();
    // The same calls in the general series.
    expect(value(families, "edgeclaw_requests_total", { tenant: t.tenantId, model: "fake-echo", provider: "" })).toBe(1);
  });
});

describe("channel gauges", () => {
  it("count a dead letter of the channel until it is dropped", { timeout: 60_000 }, async () => {
    const s = await setupTelegram({ ownToken: true });
    const labels = { tenant: s.tenant.tenantId, channel: "telegram" };
    let families = await scrape();
    // The account exists: its series are there, at 0.
    expect(value(families, "edgeclaw_dead_letters", labels)).toBe(0);
    expect(value(families, "edgeclaw_inbox_depth", labels)).toBe(0);
    expect(value(families, "edgeclaw_outbox_depth", labels)).toBe(0);

    const chatId = newChatId();
    await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(s.token)}/block`, { method: "POST", body: JSON.stringify({ chat_id: chatId }) });
    expect((await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chatId, "are you there?"))).status).toBe(200);
    const list = async () => expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as { id: string }[];
    const dead = await until(list, (l) => l.length >= 1);
    expect(dead).toHaveLength(1);
    families = await scrape();
    expect(value(families, "edgeclaw_dead_letters", labels)).toBe(1);

    expectStatus(await admin(s.tenant.owner, "POST", `/dead-letters/${encodeURIComponent(dead[0]!.id)}/drop`), 200);
    families = await scrape();
    expect(value(families, "edgeclaw_dead_letters", labels)).toBe(0);
  });

  it("follow a burst of queued messages through the sessions' own mirror, and go back to 0", { timeout: 90_000 }, async () => {
    const s = await setupTelegram({ ownToken: true });
    const labels = { tenant: s.tenant.tenantId, channel: "telegram" };
    // Each turn takes 2 s: a burst is accepted while the first of its turns runs.
    const scn = await scenarioModel(s.tenant, { mode: "delay", delay_ms: 2000 });
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const chatId = newChatId();
    // The first turn registers the session's D1 row.
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chatId, "first"));
    await until(() => sentTo(s.token, chatId), (m) => m.length >= 1, 30_000);
    const burst = 4;
    for (let i = 0; i < burst; i++) expect((await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chatId, `burst ${i}`))).status).toBe(200);
    const inbox: number[] = [];
    let last: Map<string, Family> | undefined;
    await until(
      async () => {
        last = await scrape();
        inbox.push(value(last, "edgeclaw_inbox_depth", labels) ?? -1);
        return (await sentTo(s.token, chatId)).length;
      },
      (sent) => sent >= 1 + burst && inbox.at(-1) === 0,
      60_000,
    );
    // The backlog showed in the gauge while it was worked off, then went back to 0.
    expect(Math.max(...inbox)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...inbox)).toBeLessThanOrEqual(burst);
    expect(inbox.at(-1)).toBe(0);
    expect(value(last!, "edgeclaw_outbox_depth", labels)).toBe(0);
  });

  it("sum the depths the channel's sessions mirrored, and go back to 0", async () => {
    const s = await setupTelegram();
    const labels = { tenant: s.tenant.tenantId, channel: "telegram" };
    const now = Date.now();
    // What session objects write (workers/channels/depth.ts): two sessions of the channel with
    // messages queued, one with nothing.
    const insert = env.DB.prepare(
      "INSERT INTO sessions (key, tenant_id, agent_id, channel, account_id, created_at, inbox_depth, outbox_depth, depth_at) VALUES (?, ?, ?, 'telegram', ?, ?, ?, ?, ?)",
    );
    const keys = [uid("sess"), uid("sess"), uid("sess")];
    await env.DB.batch([
      insert.bind(keys[0], s.tenant.tenantId, s.agentId, s.accountId, now, 3, 1, now),
      insert.bind(keys[1], s.tenant.tenantId, s.agentId, s.accountId, now, 2, 0, now),
      insert.bind(keys[2], s.tenant.tenantId, s.agentId, s.accountId, now, 0, 0, now),
    ]);
    let families = await scrape();
    expect(value(families, "edgeclaw_inbox_depth", labels)).toBe(5);
    expect(value(families, "edgeclaw_outbox_depth", labels)).toBe(1);
    expect(families.get("edgeclaw_inbox_depth")?.type).toBe("gauge");

    await env.DB.prepare("UPDATE sessions SET inbox_depth = 0, outbox_depth = 0, depth_at = ? WHERE key IN (?, ?)").bind(Date.now(), keys[0], keys[1]).run();
    families = await scrape();
    expect(value(families, "edgeclaw_inbox_depth", labels)).toBe(0);
    expect(value(families, "edgeclaw_outbox_depth", labels)).toBe(0);
    await env.DB.prepare("DELETE FROM sessions WHERE key IN (?, ?, ?)").bind(...keys).run();
  });
});
