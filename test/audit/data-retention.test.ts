// Data-plane audit rows (event_id set) have a deployment-wide retention, AUDIT_DATA_RETENTION_DAYS
// (90 in wrangler.jsonc): the daily cron deletes older ones for tenants whose own audit period is
// unset (forever) or longer, in chunks; admin rows keep the tenant's period, the append-only
// trigger still refuses every other DELETE, and the tenant's settings row is left as it was.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dataRetentionDays } from "../../workers/audit/data-retention.ts";
import type { Env } from "../../workers/env.ts";
import worker from "../../workers/index.ts";
import { admin, expectStatus, makeTenant } from "../gateway/helpers.ts";

const DAY_MS = 86_400_000;

async function insertAged(tenantId: string, ageDays: number, action: string, data: boolean, n = 1): Promise<void> {
  const at = Date.now() - ageDays * DAY_MS;
  const stmt = env.DB.prepare("INSERT INTO audit_log (at, tenant_id, actor, action, target, metadata, event_id) VALUES (?, ?, 'test', ?, 'x', '{}', ?)");
  const rows = Array.from({ length: n }, () => stmt.bind(at, tenantId, action, data ? crypto.randomUUID() : null));
  for (let i = 0; i < rows.length; i += 500) await env.DB.batch(rows.slice(i, i + 500));
}

const count = async (tenantId: string, action: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = ? AND action = ?").bind(tenantId, action).first<{ n: number }>())!.n;
const settings = (tenantId: string) => env.DB.prepare("SELECT audit_retention_days AS days, updated_at AS at FROM tenant_settings WHERE tenant_id = ?").bind(tenantId).first();

async function cron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: "17 3 * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("data-plane audit retention", () => {
  it("AUDIT_DATA_RETENTION_DAYS: 90 by default, bounded to 1..36500", () => {
    const of = (v: string | undefined) => dataRetentionDays({ AUDIT_DATA_RETENTION_DAYS: v } as Env);
    expect(env.AUDIT_DATA_RETENTION_DAYS).toBe("90");
    expect([of(undefined), of(""), of("x"), of("1.5"), of("0"), of("-3"), of("7"), of("99999")]).toEqual([90, 90, 90, 90, 1, 1, 7, 36_500]);
  });

  it("the daily cron deletes old data rows of keep-forever and longer-period tenants, in chunks; admin rows and young rows stay", async () => {
    const forever = await makeTenant();
    const year = await makeTenant();
    const week = await makeTenant();
    expectStatus(await admin(year.owner, "PUT", "/audit/retention", { tenant_id: year.tenantId, days: 365 }), 200);
    expectStatus(await admin(week.owner, "PUT", "/audit/retention", { tenant_id: week.tenantId, days: 7 }), 200);
    const yearBefore = await settings(year.tenantId);
    // More than one chunk (1,000 rows) for the keep-forever tenant.
    await insertAged(forever.tenantId, 100, "message.accepted", true, 1_005);
    await insertAged(forever.tenantId, 80, "message.sent", true);
    await insertAged(forever.tenantId, 400, "agent.create", false);
    await insertAged(year.tenantId, 100, "message.accepted", true, 3);
    await insertAged(year.tenantId, 100, "agent.create", false);
    await insertAged(week.tenantId, 5, "message.accepted", true);

    // Outside the cron the trigger still refuses: no period for `forever`, too young for `year`.
    const oldData = (t: string) => env.DB.prepare("SELECT id FROM audit_log WHERE tenant_id = ? AND action = 'message.accepted' LIMIT 1").bind(t).first<{ id: number }>();
    for (const t of [forever.tenantId, year.tenantId]) {
      const row = await oldData(t);
      await expect(env.DB.prepare("DELETE FROM audit_log WHERE id = ?").bind(row!.id).run()).rejects.toThrow(/append-only/);
    }

    await cron();

    expect(await count(forever.tenantId, "message.accepted")).toBe(0);
    expect(await count(forever.tenantId, "message.sent")).toBe(1);
    expect(await count(forever.tenantId, "agent.create")).toBe(1);
    expect(await count(year.tenantId, "message.accepted")).toBe(0);
    expect(await count(year.tenantId, "agent.create")).toBe(1);
    // A shorter tenant period is the tenant's own purge's business: its young row stays.
    expect(await count(week.tenantId, "message.accepted")).toBe(1);
    // Each tenant's settings row is as it was: none for `forever`, 365 days and the same time for `year`.
    expect(await settings(forever.tenantId)).toBeNull();
    expect(await settings(year.tenantId)).toEqual(yearBefore);
    expect(expectStatus(await admin(forever.owner, "GET", `/audit/retention?tenant_id=${forever.tenantId}`), 200).body.days).toBeNull();
    // And the trigger is back to the tenant's own rule: the 80-day data row cannot be deleted by hand.
    const young = await env.DB.prepare("SELECT id FROM audit_log WHERE tenant_id = ? AND action = 'message.sent'").bind(forever.tenantId).first<{ id: number }>();
    await expect(env.DB.prepare("DELETE FROM audit_log WHERE id = ?").bind(young!.id).run()).rejects.toThrow(/append-only/);
    // The purge left its own admin row, saying how many went.
    const purge = await env.DB.prepare("SELECT actor, metadata FROM audit_log WHERE tenant_id = ? AND action = 'audit.purge'").bind(forever.tenantId).all<{ actor: string; metadata: string }>();
    expect(purge.results.map((r) => [r.actor, JSON.parse(r.metadata)])).toEqual([["system:cron", { deleted: 1_005, data_retention_days: 90 }]]);
  }, 60_000);
});
