// audit_log rows for admin writes. A write that only changes D1 puts its audit row in the same D1
// batch as the change (one transaction), so a change is never durable without its record, nor
// the reverse. A write that changes a Durable Object cannot share a transaction with D1: it
// records its intent first (auditIntent, before the effect; the effect is idempotent, so a retry
// after a crash is safe) and its outcome after (`<action>.done`, in the batch of its D1 side).
// Metadata names what changed; secrets (API keys, credential values, tokens) never appear in it,
// nor raw subject ids (peer, chat, group ids): see subjects.ts.
import { and, desc, eq, like, or, type SQL } from "drizzle-orm";
import type { Context } from "hono";
import { z } from "zod";
import type { AdminClaims } from "../../schema/admin.ts";
import { auditLog } from "../../schema/db.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { actorOf, tenantForRead } from "./access.ts";
import { iso } from "./ids.ts";
import { findPseudonym } from "./subjects.ts";

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

// ?subject=dm:<peer id> | group:<group id> narrows the listing to the rows about one person or
// group (a subject access request), through their pseudonym. After an erase there is none, and
// the answer is empty: that is the unlinking, seen from the API.
const auditQuery = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  subject: z.string().regex(/^(?:dm|group):\S{1,256}$/, "dm:<peer id> or group:<group id>").optional(),
});

// GET /admin/audit: newest first, limited to the token's tenant scope.
export async function listAudit(c: Context<AppEnv>): Promise<Response> {
  const q = parseOr400(auditQuery, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  const db = database(c.env.DB);
  let about: SQL | undefined;
  if (q.subject !== undefined) {
    if (tenantId === undefined) throw new ApiError(400, "invalid_value", "tenant_id: required with subject.");
    const pseudonym = await findPseudonym(db, tenantId, q.subject);
    if (pseudonym === null) return c.json({ data: [] });
    // Pseudonyms are sub_ + hex: no LIKE wildcard can hide in one.
    about = or(like(auditLog.target, `%${pseudonym}%`), like(auditLog.metadata, `%${pseudonym}%`));
  }
  const rows = await db
    .select()
    .from(auditLog)
    .where(and(tenantId === undefined ? undefined : eq(auditLog.tenantId, tenantId), about))
    .orderBy(desc(auditLog.id))
    .limit(q.limit ?? 100);
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
