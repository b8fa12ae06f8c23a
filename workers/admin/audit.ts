// audit_log rows for admin writes. A write that only changes D1 puts its audit row in the same D1
// batch as the change (one transaction), so a change is never durable without its record, nor
// the reverse. A write that changes a Durable Object cannot share a transaction with D1: it
// records its intent first (auditIntent, before the effect; the effect is idempotent, so a retry
// after a crash is safe) and its outcome after (`<action>.done`, in the batch of its D1 side).
// Metadata names what changed; secrets (API keys, credential values, tokens) never appear in it,
// nor raw subject ids (peer, chat, group ids): see subjects.ts.
import { desc, eq } from "drizzle-orm";
import type { Context } from "hono";
import type { AdminClaims } from "../../schema/admin.ts";
import { auditLog } from "../../schema/db.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { actorOf } from "./access.ts";
import { scopedListQuery } from "./request.ts";
import { iso } from "./ids.ts";

export interface AuditEntry {
  tenantId: string | null;
  action: string;
  target: string;
  metadata?: Record<string, unknown>;
}

export function auditInsert(db: Database, claims: AdminClaims, entry: AuditEntry, at = Date.now()) {
  return auditInsertAs(db, actorOf(claims), entry, at);
}

// For writes without an admin token behind them (the daily cron is "system:cron").
export function auditInsertAs(db: Database, actor: string, entry: AuditEntry, at = Date.now()) {
  return db.insert(auditLog).values({
    at,
    tenantId: entry.tenantId,
    actor,
    action: entry.action,
    target: entry.target,
    metadata: JSON.stringify(entry.metadata ?? {}),
  });
}

// The intent row of a Durable Object write, durable before the effect starts.
export async function auditIntent(db: Database, claims: AdminClaims, entry: AuditEntry): Promise<void> {
  await db.batch([auditInsert(db, claims, entry)]);
}

// GET /admin/audit: newest first, limited to the token's tenant scope.
export async function listAudit(c: Context<AppEnv>): Promise<Response> {
  const { tenantId, limit } = scopedListQuery(c);
  const db = database(c.env.DB);
  const rows = await db
    .select()
    .from(auditLog)
    .where(tenantId === undefined ? undefined : eq(auditLog.tenantId, tenantId))
    .orderBy(desc(auditLog.id))
    .limit(limit);
  return c.json({
    data: rows.map((r) => ({
      id: r.id,
      at: iso(r.at),
      tenant_id: r.tenantId,
      actor: r.actor,
      action: r.action,
      target: r.target,
      metadata: JSON.parse(r.metadata) as unknown,
    })),
  });
}
