// Reads data-plane audit rows back through GET /admin/audit, as an operator would: the producers
// never wait on the queue's consumer, so a test polls until the rows it expects have landed.
import { admin, expectStatus } from "../gateway/helpers.ts";

export interface AuditRow {
  id: number;
  at: string;
  tenant_id: string;
  kind: "admin" | "data";
  event_id: string | null;
  actor: string;
  action: string;
  target: string;
  metadata: Record<string, unknown>;
}

export async function auditRows(bearer: string, query: string): Promise<{ data: AuditRow[]; next_before_id: number | null }> {
  return expectStatus(await admin<{ data: AuditRow[]; next_before_id: number | null }>(bearer, "GET", `/audit?${query}`), 200).body;
}

// Polls the listing until `done` holds for its rows (or the time is up: the caller's expect fails).
export async function waitForAudit(bearer: string, query: string, done: (rows: AuditRow[]) => boolean, timeoutMs = 20_000): Promise<AuditRow[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rows = (await auditRows(bearer, query)).data;
    if (done(rows) || Date.now() > until) return rows;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function ofAction(rows: AuditRow[], action: string): AuditRow[] {
  return rows.filter((r) => r.action === action);
}

// A row that names its session by pseudonym: "<tenant>/<agent>/<channel>/<account>/sub_<24 hex>".
export const PSEUDONYMOUS_TARGET = /^[^/]+\/[^/]+\/[^/]+\/[^/]+\/sub_[0-9a-f]{24}$/;
