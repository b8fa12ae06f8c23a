// Raw usage events are kept for their tenant's period: its own (PUT /admin/usage/retention,
// audited; null keeps them forever) or the deployment's USAGE_RETENTION_DAYS (90 here). The daily
// cron, run through the Worker's real scheduled() handler, deletes exactly the events past it.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index.ts";
import { admin, expectStatus, makeTenant, token, uid } from "../gateway/helpers.ts";

const DAY = 86_400_000;

async function insert(tenantId: string, ageDays: number): Promise<string> {
  const id = uid("evt");
  await env.DB.prepare(
    "INSERT INTO usage_events (id, at, tenant_id, route, model, input_tokens, output_tokens, tokens_estimated, cost_micro_usd, latency_ms, status, attempts, request_id) VALUES (?, ?, ?, 'agent_turn', 'm', 1, 1, 0, 1, 1, 200, 1, ?)",
  )
    .bind(id, Date.now() - ageDays * DAY, tenantId, id)
    .run();
  return id;
}

async function remaining(ids: string[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`SELECT id FROM usage_events WHERE id IN (${ids.map(() => "?").join(",")})`).bind(...ids).all<{ id: string }>();
  return results.map((r) => r.id).sort();
}

describe("usage retention", () => {
  it("a tenant's own period, forever, or the deployment's: the cron deletes exactly what is past it", async () => {
    const [short, forever, deflt] = [await makeTenant(), await makeTenant(), await makeTenant()];
    expect(expectStatus(await admin(short.owner, "GET", `/usage/retention?tenant_id=${short.tenantId}`), 200).body).toEqual({ tenant_id: short.tenantId, days: 90, source: "deployment" });
    // The tenant's own admin may set it; the change is audited.
    const tenantAdmin = await token({ sub: "ops", role: "admin", tenant: short.tenantId });
    expect(expectStatus(await admin(tenantAdmin, "PUT", "/usage/retention", { days: 7 }), 200).body).toEqual({ tenant_id: short.tenantId, days: 7, source: "tenant" });
    expectStatus(await admin(forever.owner, "PUT", "/usage/retention", { tenant_id: forever.tenantId, days: null }), 200);
    const audit = expectStatus(await admin(short.owner, "GET", `/audit?tenant_id=${short.tenantId}`), 200).body.data as { action: string }[];
    expect(audit.filter((a) => a.action === "usage.retention.set")).toEqual([expect.objectContaining({ actor: expect.stringContaining("ops"), metadata: { days: 7, previous: 90 } })]);

    const ids = {
      shortOld: await insert(short.tenantId, 8),
      shortNew: await insert(short.tenantId, 6),
      foreverOld: await insert(forever.tenantId, 400),
      defaultOld: await insert(deflt.tenantId, 91),
      defaultNew: await insert(deflt.tenantId, 89),
    };
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 3 * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await remaining(Object.values(ids))).toEqual([ids.shortNew, ids.foreverOld, ids.defaultNew].sort());
  });

  it("refuses a bad period, another tenant's admin, and an unknown tenant", async () => {
    const t = await makeTenant();
    expect((await admin(t.owner, "PUT", "/usage/retention", { tenant_id: t.tenantId, days: 0 })).status).toBe(400);
    expect((await admin(t.owner, "PUT", "/usage/retention", { tenant_id: t.tenantId, days: "7" })).status).toBe(400);
    const other = await token({ sub: "ops", role: "admin", tenant: uid("ten") });
    expect((await admin(other, "PUT", "/usage/retention", { tenant_id: t.tenantId, days: 7 })).status).toBe(403);
    expect((await admin(t.owner, "GET", `/usage/retention?tenant_id=${uid("nope")}`)).status).toBe(404);
  });
});
