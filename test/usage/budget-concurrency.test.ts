// A tenant's spend cap holds under concurrent agent calls of every kind: 40 agent turns and
// compactions fired at once beside 10 heartbeat jobs, against a cap that covers only a few of
// them. Every call reserves by the one rule (workers/router/reservation.ts: the prompt estimate
// with its margin + the whole reply) and settles with the upstream's real usage, so the budget's
// ledger and the usage events' cost never pass the cap, and every call that did not run was
// refused with the budget error (and metered as such), none dropped silently.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { callModel } from "../../workers/agents/model-call.ts";
import { ApiError } from "../../workers/http/errors.ts";
import { waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, uid } from "../gateway/helpers.ts";
import { makeRouterTenant, setConfig, target, type RouterTenant } from "../router/helpers.ts";

// $1 per prompt token, $0.001 per reply token: the fake upstream reports 11 + 3 tokens, so each
// call really costs $11.003, while the prompt estimate of "hello" is only 6 tokens. Without the
// margin a turn would reserve $6.064 and a dozen or more concurrent turns would pass the cap.
const CAP_USD = 100;
const COST_USD = 11 + 3 * 0.001;
const TURNS = 40;
const HEARTBEATS = 10;

let t: RouterTenant;
let agentId: string;
beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, {
    routes: { priced: { tree: target("fake-echo", { input_price_per_mtok: 1_000_000, output_price_per_mtok: 1_000 }) } },
    budgets: { tenant: { daily_usd: CAP_USD } },
  });
  agentId = expectStatus(
    await admin(t.owner, "POST", "/agents", { tenant_id: t.tenantId, name: "capped", system_prompt: "Be brief.", model: "priced", max_reply_tokens: 64 }),
    201,
  ).body.id as string;
});

interface Row {
  request_id: string;
  route: string;
  status: number;
  error_class: string | null;
  cost_micro_usd: number;
}

async function rowsOf(tenantId: string): Promise<Row[]> {
  const { results } = await env.DB.prepare("SELECT request_id, route, status, error_class, cost_micro_usd FROM usage_events WHERE tenant_id = ?").bind(tenantId).all<Row>();
  return results;
}

describe("a spend cap under concurrent agent calls", () => {
  it(`${TURNS} turns and compactions beside ${HEARTBEATS} heartbeat jobs never spend past the cap`, async () => {
    // The heartbeats fire from the scheduler's alarms while the turns are running.
    const jobs: string[] = [];
    for (let i = 0; i < HEARTBEATS; i++) {
      const job = expectStatus(
        await admin(t.owner, "POST", "/jobs", {
          tenant_id: t.tenantId,
          schedule: { kind: "once", delay_ms: 100 },
          action: { kind: "heartbeat", agent_id: agentId, session_key: `${t.tenantId}/${agentId}/telegram/acct/dm:${i}`, prompt: "Anything new?" },
          max_attempts: 1,
        }),
        201,
      ).body.id as string;
      jobs.push(job);
    }
    const pending: Promise<unknown>[] = [];
    const turns = await Promise.allSettled(
      Array.from({ length: TURNS }, (_, i) =>
        callModel(env, {
          tenantId: t.tenantId,
          agentId,
          model: "priced",
          messages: [{ role: "user", content: "hello" }],
          maxTokens: 64,
          requestId: uid(`cap-${i}`),
          sessionKey: `${t.tenantId}/${agentId}/webchat/acct/dm:${i}`,
          waitUntil: (p) => void pending.push(p.catch(() => {})),
          usageRoute: i % 4 === 0 ? "compaction" : "agent_turn",
        }),
      ),
    );
    await Promise.all(pending);

    // Every turn either ran or was refused with the budget error.
    const ran = turns.filter((r) => r.status === "fulfilled").length;
    for (const r of turns) {
      if (r.status === "rejected") {
        expect(r.reason).toBeInstanceOf(ApiError);
        expect((r.reason as ApiError).status).toBe(402);
        expect((r.reason as ApiError).code).toBe("budget_exceeded");
      }
    }
    expect(ran).toBeGreaterThan(0);
    expect(ran).toBeLessThan(TURNS);

    // Every heartbeat run ends (the refused ones with the budget error).
    for (const job of jobs) {
      const runs = await waitFor(() => admin(t.owner, "GET", `/jobs/${job}/runs`), (a) => a.body.data?.some((r: { state: string }) => r.state !== "started"), 20_000);
      const run = runs.body.data[0] as { state: string; error: string | null };
      expect(run.state).not.toBe("started");
    }

    // One usage event per call, each a success or a budget refusal: none dropped.
    const rows = await waitFor(() => rowsOf(t.tenantId), (r) => r.length >= TURNS + HEARTBEATS, 20_000);
    expect(rows).toHaveLength(TURNS + HEARTBEATS);
    for (const row of rows) {
      if (row.status !== 200) expect(row).toMatchObject({ status: 402, error_class: "budget_exceeded", cost_micro_usd: 0 });
    }
    expect(rows.filter((r) => r.route === "heartbeat")).toHaveLength(HEARTBEATS);
    expect(rows.filter((r) => r.route !== "heartbeat" && r.status === 200)).toHaveLength(ran);
    const spentMicro = rows.reduce((sum, r) => sum + r.cost_micro_usd, 0);
    const served = rows.filter((r) => r.status === 200).length;
    expect(spentMicro).toBeCloseTo(served * COST_USD * 1e6, 0);
    expect(spentMicro / 1e6).toBeLessThanOrEqual(CAP_USD);

    // The budget's own ledger agrees (spend is reported in batches: it lands shortly).
    const spend = await waitFor(
      () => admin(t.owner, "GET", `/router-config/spend?tenant_id=${t.tenantId}`),
      (a) => Math.abs(a.body.day_usd - spentMicro / 1e6) < 1e-6,
      5_000,
    );
    expect(spend.body.day_usd).toBeCloseTo(spentMicro / 1e6, 6);
    expect(spend.body.day_usd).toBeLessThanOrEqual(CAP_USD);
  }, 40_000);
});
