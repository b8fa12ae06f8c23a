// Who may do what in the admin API. Roles: owner (everything, every tenant), admin (read and
// write one tenant's config), viewer (read only; one tenant, or every tenant when the token has
// none). The tenant scope comes from the token; a body or query may only name the same tenant.
import type { AdminClaims } from "../../schema/admin.ts";
import { ApiError } from "../http/errors.ts";

export function actorOf(claims: AdminClaims): string {
  return `${claims.role}:${claims.sub}`;
}

export function requireOwner(claims: AdminClaims): void {
  if (claims.role !== "owner") throw new ApiError(403, "forbidden", "Only an owner may do this.");
}

// The tenant a write applies to. Viewers never write; admins only to their own tenant.
export function tenantForWrite(claims: AdminClaims, requested: string | undefined): string {
  if (claims.role === "viewer") throw new ApiError(403, "read_only", "A viewer token is read-only.");
  if (claims.role === "owner") {
    if (!requested) throw new ApiError(400, "invalid_value", "tenant_id: required with an owner token.");
    return requested;
  }
  return ownTenant(claims, requested);
}

// The tenant a read is limited to; undefined means every tenant (owner, or unscoped viewer).
export function tenantForRead(claims: AdminClaims, requested: string | undefined): string | undefined {
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

function ownTenant(claims: AdminClaims, requested: string | undefined): string {
  const own = claims.tenant as string;
  if (requested !== undefined && requested !== own) {
    throw new ApiError(403, "tenant_scope", "This token is scoped to another tenant.");
  }
  return own;
}
