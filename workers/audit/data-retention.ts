// Deployment-wide retention of data-plane audit rows (audit_log rows with an event_id: messages,
// job runs, pairings, secret use). They come one or more per message, so unlike admin rows they
// must not be kept forever by default: the daily cron (workers/admin/maintenance.ts) deletes those
// older than AUDIT_DATA_RETENTION_DAYS (default 90, bounded 1..36500), for every tenant whose own
// audit period (PUT /admin/audit/retention; null = forever) is longer or unset. A shorter tenant
// period is already applied to every row by the tenant's own purge (workers/admin/retention.ts).
//
// The audit_log DELETE trigger (schema/migrations/0005_audit_and_tokens.sql) only lets a row go
// when tenant_settings.audit_retention_days is set and the row is older than it by SQLite's clock.
// So each chunk runs as one D1 batch (one transaction, nothing else sees its middle):
//   1. the tenant's settings row gets audit_retention_days = the data period and a marker in
//      updated_at (a negative number, never a real time), only if the row is still what we read
//      (inserted, when the tenant had none);
//   2. DELETE of data rows (event_id NOT NULL) past the data period, a minute further back by the
//      same clock, only while the marker is there: a concurrent change of the settings row makes
//      step 1 change nothing, and this step then deletes nothing (it never aborts the batch);
//   3. the settings row goes back to what it was (deleted again, when we inserted it).
// The trigger still checks every deleted row's age against the data period; that admin rows are
// not touched is this statement's WHERE, not the trigger's (see docs/security.md).
import { auditInsertAs } from "../admin/audit.ts";
import { database } from "../db.ts";
import type { Env } from "../env.ts";

const DAY_MS = 86_400_000;
export const DATA_RETENTION = { fallback: 90, min: 1, max: 36_500 } as const;
// Rows per DELETE (one batch each) and batches per tenant per run: bounded work per cron run (D1
// allows 30 s per query); what is left goes the next day.
const CHUNK = 1_000;
const MAX_CHUNKS = 50;

// The deployment's period for data-plane rows, in days.
export function dataRetentionDays(env: Env): number {
  const raw = env.AUDIT_DATA_RETENTION_DAYS;
  const n = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw);
  return Number.isInteger(n) ? Math.min(DATA_RETENTION.max, Math.max(DATA_RETENTION.min, n)) : DATA_RETENTION.fallback;
}

// SQLite's clock in ms minus `days` and a minute (the trigger compares by the same clock, without
// the minute: a row this statement picks is always past the trigger's limit).
const CUTOFF = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - ?2 * ${DAY_MS} - 60000`;

// Deletes the tenant's data-plane rows past `days`; returns how many. The caller checked that the
// tenant's own period is null or longer.
export async function purgeTenantDataRows(env: Env, tenantId: string, days: number): Promise<number> {
  const probe = env.DB.prepare(`SELECT 1 AS x FROM audit_log WHERE tenant_id = ?1 AND event_id IS NOT NULL AND at < ${CUTOFF} LIMIT 1`).bind(tenantId, days);
  let deleted = 0;
  for (let i = 0; i < MAX_CHUNKS; i++) {
    if (!(await probe.first())) break;
    const before = await env.DB.prepare("SELECT audit_retention_days AS days, updated_at AS at FROM tenant_settings WHERE tenant_id = ?").bind(tenantId).first<{ days: number | null; at: number }>();
    if (before?.days != null && before.days <= days) break;
    const marker = -(1 + Math.floor(Math.random() * 2 ** 40));
    const open = before
      ? env.DB.prepare("UPDATE tenant_settings SET audit_retention_days = ?2, updated_at = ?3 WHERE tenant_id = ?1 AND audit_retention_days IS ?4 AND updated_at = ?5").bind(tenantId, days, marker, before.days, before.at)
      : env.DB.prepare("INSERT INTO tenant_settings (tenant_id, audit_retention_days, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id) DO NOTHING").bind(tenantId, days, marker);
    const remove = env.DB.prepare(
      `DELETE FROM audit_log WHERE id IN (
         SELECT id FROM audit_log WHERE tenant_id = ?1 AND event_id IS NOT NULL AND at < ${CUTOFF}
           AND EXISTS (SELECT 1 FROM tenant_settings WHERE tenant_id = ?1 AND updated_at = ?3 AND audit_retention_days = ?2)
         LIMIT ${CHUNK})`,
    ).bind(tenantId, days, marker);
    const close = before
      ? env.DB.prepare("UPDATE tenant_settings SET audit_retention_days = ?2, updated_at = ?3 WHERE tenant_id = ?1 AND updated_at = ?4").bind(tenantId, before.days, before.at, marker)
      : env.DB.prepare("DELETE FROM tenant_settings WHERE tenant_id = ?1 AND updated_at = ?2").bind(tenantId, marker);
    const [, removed] = await env.DB.batch([open, remove, close]);
    const n = removed?.meta.changes ?? 0;
    deleted += n;
    // Nothing went: the settings row changed under us (tried again tomorrow), or nothing is left.
    if (n < CHUNK) break;
  }
  return deleted;
}

// The cron's run: every tenant whose own period is unset or longer than the data period. Each
// tenant that lost rows gets an admin row saying how many (an admin row: this purge never deletes it).
export async function purgeDataRows(env: Env): Promise<{ tenants: number; deleted: number }> {
  const days = dataRetentionDays(env);
  const { results } = await env.DB.prepare(
    "SELECT t.id AS id FROM tenants t LEFT JOIN tenant_settings s ON s.tenant_id = t.id WHERE s.audit_retention_days IS NULL OR s.audit_retention_days > ?1",
  )
    .bind(days)
    .all<{ id: string }>();
  let deleted = 0;
  const db = database(env.DB);
  for (const { id } of results) {
    const n = await purgeTenantDataRows(env, id, days);
    deleted += n;
    if (n > 0) await db.batch([auditInsertAs(db, "system:cron", { tenantId: id, action: "audit.purge", target: id, metadata: { deleted: n, data_retention_days: days } })]);
  }
  return { tenants: results.length, deleted };
}
