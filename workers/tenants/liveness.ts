// Is a tenant allowed to act? Every entry point that can lead to a model call, a platform send or
// a job run asks this (API keys carry the answer in their Principal; channels, hooks, WebChat,
// session turns, outbox sends and scheduler runs call tenantStatus). Cached per isolate like API
// keys, for CACHE_TTL_MS: that is the documented upper bound on how late a revocation reaches an
// isolate that did not handle the revoking call (the revoking isolate forgets at once).
import { eq } from "drizzle-orm";
import { tenants } from "../../schema/db.ts";
import { TtlCache } from "../cache/ttl-cache.ts";
import { database } from "../db.ts";
import { settings, type Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";

export type TenantStatus = "live" | "revoked" | "unknown";

const statusCache = new TtlCache<TenantStatus>(10_000);

export function tenantStatus(env: Env, tenantId: string): Promise<TenantStatus> {
  return statusCache.get(tenantId, settings(env).cacheTtlMs, async () => {
    const row = await database(env.DB).select({ revokedAt: tenants.revokedAt }).from(tenants).where(eq(tenants.id, tenantId)).get();
    if (!row) return "unknown";
    return row.revokedAt === null ? "live" : "revoked";
  });
}

// Throws 404 tenant_not_found / 403 tenant_revoked unless the tenant is live.
export async function requireTenantLive(env: Env, tenantId: string): Promise<void> {
  const status = await tenantStatus(env, tenantId);
  if (status === "unknown") throw new ApiError(404, "tenant_not_found", `No tenant '${tenantId}'.`);
  if (status === "revoked") throw new ApiError(403, "tenant_revoked", `Tenant '${tenantId}' is revoked.`);
}

// The revoking admin call drops this isolate's view at once.
export function forgetTenantStatus(tenantId?: string): void {
  if (tenantId === undefined) statusCache.clear();
  else statusCache.invalidate(tenantId);
}
