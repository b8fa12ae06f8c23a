// Audit retention per tenant, and the purge it allows.
//   GET  /audit/retention?tenant_id=   the tenant's period (days; null = kept forever)
//   PUT  /audit/retention {tenant_id?, days}   owner or the tenant's admin; audited
//   POST /audit/purge {tenant_id?}     delete the tenant's rows past the period now; audited
// The daily cron (workers/index.ts scheduled) runs the same purge for every tenant with a period.
// What may be deleted is decided by the database, not here: the audit_log DELETE trigger
// (schema/migrations/0005_audit_and_tokens.sql) aborts unless the row's tenant has a period and
// the row is older than it by SQLite's clock. The purge below asks for exactly those rows (by the
// same clock, a minute further back), so a bug here can make it delete less, never more.
import { eq, isNotNull } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { auditRetentionBody } from "../../schema/admin.ts";
import { tenantSettings } from "../../schema/db.ts";
import { database } from "../db.ts";
import type { AppEnv, Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { tenantStatus } from "../tenants/liveness.ts";
import { tenantForRead, tenantForWrite } from "./access.ts";
import { auditInsert, auditInsertAs } from "./audit.ts";
import { adminBody } from "./request.ts";

export const retentionRoutes = new Hono<AppEnv>();

// ?tenant_id= of GET /retention and the body of POST /purge.
export const tenantOnly = z.strictObject({ tenant_id: z.string().min(1).max(64).optional() });

const DAY_MS = 86_400_000;
// Rows per DELETE statement, and statements per purge call: bounded work per call (D1 allows
// 30 s per query); what is left goes the next day, or at the next call.
const PURGE_CHUNK = 1_000;
const PURGE_MAX_CHUNKS = 50;

export async function retentionDays(env: Env, tenantId: string): Promise<number | null> {
  const row = await database(env.DB).select().from(tenantSettings).where(eq(tenantSettings.tenantId, tenantId)).get();
  return row?.auditRetentionDays ?? null;
}

// Deletes the tenant's audit rows older than its retention period; returns how many.
export async function purgeTenantAudit(env: Env, tenantId: string, days: number): Promise<number> {
  const stmt = env.DB.prepare(
    `DELETE FROM audit_log WHERE id IN (
       SELECT id FROM audit_log WHERE tenant_id = ?1
         AND at < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - ?2 * ${DAY_MS} - 60000
       LIMIT ${PURGE_CHUNK})`,
  ).bind(tenantId, days);
  let deleted = 0;
  for (let i = 0; i < PURGE_MAX_CHUNKS; i++) {
    const n = (await stmt.run()).meta.changes ?? 0;
    deleted += n;
    if (n < PURGE_CHUNK) break;
  }
  return deleted;
}

// The cron's run: every tenant with a period. Each tenant's purge leaves its own audit row.
export async function purgeAllTenants(env: Env): Promise<{ tenants: number; deleted: number }> {
  const db = database(env.DB);
  const rows = await db.select().from(tenantSettings).where(isNotNull(tenantSettings.auditRetentionDays));
  let deleted = 0;
  for (const row of rows) {
    const days = row.auditRetentionDays as number;
    const n = await purgeTenantAudit(env, row.tenantId, days);
    deleted += n;
    if (n > 0) await db.batch([auditInsertAs(db, "system:cron", { tenantId: row.tenantId, action: "audit.purge", target: row.tenantId, metadata: { deleted: n, retention_days: days } })]);
  }
  return { tenants: rows.length, deleted };
}

export async function knownTenant(env: Env, tenantId: string): Promise<void> {
  if ((await tenantStatus(env, tenantId)) === "unknown") throw new ApiError(404, "tenant_not_found", `No tenant '${tenantId}'.`);
}

// The tenant a retention read (audit or usage) is about: ?tenant_id= within the token's scope,
// required with an unscoped token, and a tenant that exists.
export async function retentionTenantForRead(c: Context<AppEnv>): Promise<string> {
  const q = parseOr400(tenantOnly, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  if (tenantId === undefined) throw new ApiError(400, "invalid_value", "tenant_id: required with an unscoped token.");
  await knownTenant(c.env, tenantId);
  return tenantId;
}

retentionRoutes.get("/retention", async (c) => {
  const tenantId = await retentionTenantForRead(c);
  return c.json({ tenant_id: tenantId, days: await retentionDays(c.env, tenantId) });
});

retentionRoutes.put("/retention", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, auditRetentionBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  await knownTenant(c.env, tenantId);
  const db = database(c.env.DB);
  const previous = await retentionDays(c.env, tenantId);
  const now = Date.now();
  await db.batch([
    db
      .insert(tenantSettings)
      .values({ tenantId, auditRetentionDays: body.days, updatedAt: now })
      .onConflictDoUpdate({ target: tenantSettings.tenantId, set: { auditRetentionDays: body.days, updatedAt: now } }),
    auditInsert(db, claims, { tenantId, action: "audit.retention.set", target: tenantId, metadata: { days: body.days, previous } }, now),
  ]);
  return c.json({ tenant_id: tenantId, days: body.days });
});

retentionRoutes.post("/purge", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, tenantOnly);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  await knownTenant(c.env, tenantId);
  const days = await retentionDays(c.env, tenantId);
  if (days === null) throw new ApiError(409, "no_retention", "This tenant keeps its audit log forever: set a retention period first.");
  const deleted = await purgeTenantAudit(c.env, tenantId, days);
  const db = database(c.env.DB);
  await db.batch([auditInsert(db, claims, { tenantId, action: "audit.purge", target: tenantId, metadata: { deleted, retention_days: days } })]);
  return c.json({ tenant_id: tenantId, retention_days: days, deleted });
});
