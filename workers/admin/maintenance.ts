// The daily cron (triggers.crons in wrangler.jsonc): audit rows past their tenant's retention
// period, data-plane audit rows past AUDIT_DATA_RETENTION_DAYS (workers/audit/data-retention.ts), raw usage events and minute/hour usage rollups past theirs, and revoked admin token ids
// past their token's expiry.
import { purgeExpiredRevocations } from "../auth/revoked-tokens.ts";
import type { Env } from "../env.ts";
import { purgeDataRows } from "../audit/data-retention.ts";
import { purgeAllTenants } from "./retention.ts";
import { purgeRollups, purgeUsage } from "../usage/retention.ts";

export async function dailyMaintenance(env: Env): Promise<{ auditDeleted: number; revocationsDeleted: number; usageDeleted: number }> {
  const audit = await purgeAllTenants(env);
  // After the tenants' own periods: a row those took is not looked at again.
  const data = await purgeDataRows(env);
  const revocationsDeleted = await purgeExpiredRevocations(env);
  const usageDeleted = await purgeUsage(env);
  const rollups = await purgeRollups(env);
  console.log(JSON.stringify({ level: "info", msg: "daily maintenance", audit_tenants: audit.tenants, audit_deleted: audit.deleted, audit_data_deleted: data.deleted, revocations_deleted: revocationsDeleted, usage_deleted: usageDeleted, rollups_deleted: rollups }));
  return { auditDeleted: audit.deleted + data.deleted, revocationsDeleted, usageDeleted };
}
