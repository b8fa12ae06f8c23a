// Who may do what in the admin API. Roles: owner (everything, every tenant), admin (read and
// write one tenant's config), viewer (read only; one tenant, or every tenant when the token has
// none). The tenant scope comes from the token; a body or query may only name the same tenant.
import type { AdminClaims } from "../../schema/admin.ts";
import { ApiError } from "../http/errors.ts";
import { regionOfId } from "../regions/request-region.ts";

export function actorOf(claims: AdminClaims): string {
  return `${claims.role}:${claims.sub}`;
}

export function requireOwner(claims: AdminClaims): void {
  if (claims.role !== "owner") throw new ApiError(403, "forbidden", "Only an owner may do this.");
}

// The tenant a write applies to. Viewers never write; admins only to their own tenant.
export function tenantForWrite(claims: AdminClaims, requested: string | undefined): string {
  if (claims.role === "viewer") throw new ApiError(403, "read_only", "A viewer token is read-only.");
  assertHomeRegion(claims, requested);
  if (claims.role === "owner") {
    if (!requested) throw new ApiError(400, "invalid_value", "tenant_id: required with an owner token.");
    return requested;
  }
  return ownTenant(claims, requested);
}

// The tenant a read is limited to; undefined means every tenant (owner, or unscoped viewer).
export function tenantForRead(claims: AdminClaims, requested: string | undefined): string | undefined {
  assertHomeRegion(claims, requested);
  if (claims.tenant === undefined) return requested;
  return ownTenant(claims, requested);
}

// A row found by id that is outside the token's scope is reported as missing, so ids of other
// tenants' objects cannot be probed.
export function assertVisible(claims: AdminClaims, rowTenantId: string | null, what: string): void {
  if (claims.tenant !== undefined && rowTenantId !== claims.tenant) {
    throw new ApiError(404, "not_found", `No such ${what}.`);
  }
}

// A generated tenant id names its home region (workers/admin/ids.ts): asking one region's Worker
// about another region's tenant gets a clear refusal, not an empty answer from the wrong database.
// claims.region is the region serving the call (workers/http/admin-auth.ts).
function assertHomeRegion(claims: AdminClaims, tenantId: string | undefined): void {
  const home = regionOfId(tenantId);
  if (home !== null && claims.region !== undefined && home !== claims.region) {
    throw new ApiError(409, "wrong_region", `Tenant '${tenantId}' lives in region '${home}'; this call is served by region '${claims.region}'. Send it with X-EdgeClaw-Region: ${home}.`);
  }
}

function ownTenant(claims: AdminClaims, requested: string | undefined): string {
  const own = claims.tenant as string;
  if (requested !== undefined && requested !== own) {
    throw new ApiError(403, "tenant_scope", "This token is scoped to another tenant.");
  }
  return own;
}
