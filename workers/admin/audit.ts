// audit_log rows for admin writes. A write that only changes D1 puts its audit row in the same D1
// batch as the change (one transaction), so a change is never durable without its record, nor
// the reverse. A write that changes a Durable Object cannot share a transaction with D1: it
// records its intent first (auditIntent, before the effect; the effect is idempotent, so a retry
// after a crash is safe) and its outcome after (`<action>.done`, in the batch of its D1 side).
// Metadata names what changed; secrets (API keys, credential values, tokens) never appear in it,
// nor raw subject ids (peer, chat, group ids): see subjects.ts.
import { and, desc, eq, gte, isNotNull, isNull, lt, or, sql, type SQL } from "drizzle-orm";
import type { Context } from "hono";
import { z } from "zod";
import type { AdminClaims } from "../../schema/admin.ts";
import { auditLog } from "../../schema/db.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { instant } from "../http/instant.ts";
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

// Filters, all optional and combined with AND, inside the token's tenant scope (a tenant admin
// sees its own tenant's rows, whatever it asks):
//   subject=dm:<peer id> | group:<group id>  the rows about one person or group (a subject access
//     request), through their pseudonym. After an erase there is none, and the answer is empty:
//     that is the unlinking, seen from the API.
//   action=<name>     exact (message.sent); ending in "." or ".*" a prefix (message., message.*)
//   actor=<actor>     exact (channel:telegram, scheduler, agent:<id>, admin:<sub>, ...)
//   kind=admin|data   admin writes, or the data-plane events of workers/audit/ (they carry an
//                     event_id)
//   since, until      epoch milliseconds, or ISO 8601 with a zone (../http/instant.ts); since
//                     inclusive, until exclusive
//   before_id         the cursor: rows with a smaller id (pass the previous page's next_before_id)
export const auditQuery = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  subject: z.string().regex(/^(?:dm|group):\S{1,256}$/, "dm:<peer id> or group:<group id>").optional(),
  action: z.string().regex(/^[a-z][a-z0-9_.]{0,63}(?:\*)?$/, "an action name, or a prefix ending in '.' or '.*'").optional(),
  actor: z.string().regex(/^\S{1,256}$/, "an actor, 1-256 characters without spaces").optional(),
  kind: z.enum(["admin", "data"]).optional(),
  since: instant.optional(),
  until: instant.optional(),
  before_id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});

// LIKE's wildcards (% and _) and the escape character itself, taken literally.
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

// An action filter as SQL: a prefix is a range on the index (tenant_id, action), never a LIKE.
function actionFilter(action: string): SQL | undefined {
  const stem = action.endsWith("*") ? action.slice(0, -1) : action;
  if (!stem.endsWith(".")) return eq(auditLog.action, stem);
  const upper = stem.slice(0, -1) + String.fromCharCode(stem.charCodeAt(stem.length - 1) + 1);
  return and(gte(auditLog.action, stem), lt(auditLog.action, upper));
}

// GET /admin/audit: newest first, limited to the token's tenant scope.
export async function listAudit(c: Context<AppEnv>): Promise<Response> {
  const q = parseOr400(auditQuery, c.req.query());
  if (q.action !== undefined && q.action.endsWith("*") && !q.action.endsWith(".*")) {
    throw new ApiError(400, "invalid_value", "Invalid value for 'action': a prefix ends in '.' or '.*'.", { param: "action" });
  }
  if (q.since !== undefined && q.until !== undefined && q.since >= q.until) {
    throw new ApiError(400, "invalid_value", "Invalid value for 'until': it must be later than 'since'.", { param: "until" });
  }
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  const db = database(c.env.DB);
  let about: SQL | undefined;
  if (q.subject !== undefined) {
    if (tenantId === undefined) throw new ApiError(400, "invalid_value", "tenant_id: required with subject.");
    const pseudonym = await findPseudonym(db, tenantId, q.subject);
    if (pseudonym === null) return c.json({ data: [], next_before_id: null });
    // Pseudonyms are sub_ + hex, and '_' is a LIKE wildcard: escaped, so that only the pseudonym
    // itself matches (not sub + any character + the same hex).
    const pattern = `%${escapeLike(pseudonym)}%`;
    about = or(sql`${auditLog.target} LIKE ${pattern} ESCAPE '\\'`, sql`${auditLog.metadata} LIKE ${pattern} ESCAPE '\\'`);
  }
  const limit = q.limit ?? 100;
  const rows = await db
    .select()
    .from(auditLog)
    .where(
      and(
        tenantId === undefined ? undefined : eq(auditLog.tenantId, tenantId),
        about,
        q.action === undefined ? undefined : actionFilter(q.action),
        q.actor === undefined ? undefined : eq(auditLog.actor, q.actor),
        q.kind === undefined ? undefined : q.kind === "data" ? isNotNull(auditLog.eventId) : isNull(auditLog.eventId),
        q.since === undefined ? undefined : gte(auditLog.at, q.since),
        q.until === undefined ? undefined : lt(auditLog.at, q.until),
        q.before_id === undefined ? undefined : lt(auditLog.id, q.before_id),
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(limit);
  const last = rows[rows.length - 1];
  return c.json({
    data: rows.map((r) => ({
      id: r.id,
      at: iso(r.at),
      tenant_id: r.tenantId,
      kind: r.eventId === null ? "admin" : "data",
      event_id: r.eventId,
      actor: r.actor,
      action: r.action,
      target: r.target,
      metadata: JSON.parse(r.metadata) as unknown,
    })),
    // A full page may have more behind it: ask again with before_id set to this.
    next_before_id: rows.length === limit && last ? last.id : null,
  });
}
