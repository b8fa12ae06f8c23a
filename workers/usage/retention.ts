// Retention of raw usage events, per tenant:
//   GET /admin/usage/retention?tenant_id=   the tenant's period: its own, or the deployment's
//   PUT /admin/usage/retention {tenant_id?, days}   days null: kept forever; audited
// The daily cron (workers/admin/maintenance.ts) deletes every tenant's events older than its
// period: tenants with their own period one by one, all others at the deployment's
// USAGE_RETENTION_DAYS (default 90; 0 keeps them forever). Deletes are bounded per run (D1's
// per-query limits); what is left goes the next day. The same cron purges old minute and hour
// rollups (purgeRollups below); day rollups are kept forever.
import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import { usageRetention } from "../../schema/usage.ts";
import { tenantForWrite } from "../admin/access.ts";
import { knownTenant, retentionTenantForRead } from "../admin/retention.ts";
import { auditInsert } from "../admin/audit.ts";
import { adminBody } from "../admin/request.ts";
import { database } from "../db.ts";
import type { AppEnv, Env } from "../env.ts";

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 90;
const PURGE_CHUNK = 1_000;
const PURGE_MAX_CHUNKS = 50;

export const usageRetentionBody = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  days: z.number().int().min(1).max(36_500).nullable(),
});
// The deployment's period in days, or null (kept forever) when USAGE_RETENTION_DAYS is "0".
export function defaultUsageDays(env: Env): number | null {
  const raw = env.USAGE_RETENTION_DAYS;
  if (raw === undefined || raw.trim() === "") return DEFAULT_DAYS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) return DEFAULT_DAYS;
  return n === 0 ? null : n;
}

export async function usageRetentionOf(env: Env, tenantId: string): Promise<{ days: number | null; source: "tenant" | "deployment" }> {
  const row = await database(env.DB).select().from(usageRetention).where(eq(usageRetention.tenantId, tenantId)).get();
  return row ? { days: row.days, source: "tenant" } : { days: defaultUsageDays(env), source: "deployment" };
}

// Runs one bounded DELETE again until it deletes less than a chunk; returns how many rows went.
async function drain(stmt: D1PreparedStatement): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < PURGE_MAX_CHUNKS; i++) {
    const n = (await stmt.run()).meta.changes ?? 0;
    deleted += n;
    if (n < PURGE_CHUNK) break;
  }
  return deleted;
}

// The cron's purge. Returns how many events were deleted.
export async function purgeUsage(env: Env, now = Date.now()): Promise<number> {
  let deleted = 0;
  const own = await database(env.DB).select().from(usageRetention);
  for (const row of own) {
    if (row.days === null) continue;
    const stmt = env.DB.prepare(`DELETE FROM usage_events WHERE id IN (SELECT id FROM usage_events WHERE tenant_id = ?1 AND at < ?2 LIMIT ${PURGE_CHUNK})`);
    deleted += await drain(stmt.bind(row.tenantId, now - row.days * DAY_MS));
  }
  const days = defaultUsageDays(env);
  if (days !== null) {
    const stmt = env.DB.prepare(
      `DELETE FROM usage_events WHERE id IN (SELECT id FROM usage_events WHERE at < ?1
         AND tenant_id NOT IN (SELECT tenant_id FROM usage_retention) LIMIT ${PURGE_CHUNK})`,
    );
    deleted += await drain(stmt.bind(now - days * DAY_MS));
  }
  return deleted;
}

// Rollup retention (usage_rollups, rollups.ts): minute rows for USAGE_ROLLUP_MINUTE_HOURS hours
// (default 48), hour rows for USAGE_ROLLUP_HOUR_DAYS days (default 90), each clamped to its
// bounds. Day rows are never purged: GET /metrics sums all of them into its counters, and a
// purge would make those counters go down (Prometheus would read it as a reset).
const HOUR_MS = 3_600_000;
export const ROLLUP_RETENTION = {
  minute: { variable: "USAGE_ROLLUP_MINUTE_HOURS", unitMs: HOUR_MS, fallback: 48, min: 1, max: 720 },
  hour: { variable: "USAGE_ROLLUP_HOUR_DAYS", unitMs: DAY_MS, fallback: 90, min: 1, max: 3650 },
} as const;
// Minute rows come in far larger numbers (up to 1,440 a day per tenant, key, model, ... combination):
// bigger chunks, more of them. Each DELETE walks the primary key's (granularity, bucket_start) prefix.
const ROLLUP_PURGE_CHUNK = 5_000;
const ROLLUP_PURGE_MAX_CHUNKS = 100;

// How long rows of a granularity are kept, in ms; null for day rows (forever).
export function rollupRetentionMs(env: Env, granularity: "minute" | "hour" | "day"): number | null {
  if (granularity === "day") return null;
  const r = ROLLUP_RETENTION[granularity];
  const raw = env[r.variable];
  const n = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw);
  const value = Number.isInteger(n) ? Math.min(r.max, Math.max(r.min, n)) : r.fallback;
  return value * r.unitMs;
}

// The cron's rollup purge: minute and hour rows whose bucket started before their period.
export async function purgeRollups(env: Env, now = Date.now()): Promise<{ minute: number; hour: number }> {
  const out = { minute: 0, hour: 0 };
  for (const g of ["minute", "hour"] as const) {
    const keep = rollupRetentionMs(env, g) as number;
    const stmt = env.DB.prepare(
      `DELETE FROM usage_rollups WHERE rowid IN (SELECT rowid FROM usage_rollups WHERE granularity = '${g}' AND bucket_start < ?1 LIMIT ${ROLLUP_PURGE_CHUNK})`,
    ).bind(now - keep);
    for (let i = 0; i < ROLLUP_PURGE_MAX_CHUNKS; i++) {
      const n = (await stmt.run()).meta.changes ?? 0;
      out[g] += n;
      if (n < ROLLUP_PURGE_CHUNK) break;
    }
  }
  return out;
}

export const usageRetentionRoutes = new Hono<AppEnv>();

usageRetentionRoutes.get("/retention", async (c) => {
  const tenantId = await retentionTenantForRead(c);
  const { days, source } = await usageRetentionOf(c.env, tenantId);
  return c.json({ tenant_id: tenantId, days, source });
});

usageRetentionRoutes.put("/retention", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, usageRetentionBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  await knownTenant(c.env, tenantId);
  const db = database(c.env.DB);
  const previous = await usageRetentionOf(c.env, tenantId);
  const now = Date.now();
  await db.batch([
    db
      .insert(usageRetention)
      .values({ tenantId, days: body.days, updatedAt: now })
      .onConflictDoUpdate({ target: usageRetention.tenantId, set: { days: body.days, updatedAt: now } }),
    auditInsert(db, claims, { tenantId, action: "usage.retention.set", target: tenantId, metadata: { days: body.days, previous: previous.days } }, now),
  ]);
  return c.json({ tenant_id: tenantId, days: body.days, source: "tenant" });
});
