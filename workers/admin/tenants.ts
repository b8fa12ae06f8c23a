// /admin/tenants: create, list, get and revoke tenants. Creating and revoking are owner-only.
// Revoking a tenant keeps its rows (and audit trail) but turns every one of its keys away.
import { desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { createTenantBody } from "../../schema/admin.ts";
import { tenants, type TenantRow } from "../../schema/db.ts";
import { forgetAllKeys } from "../auth/principal.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { forgetCatalog } from "../router/catalog.ts";
import { forgetTenantStatus } from "../tenants/liveness.ts";
import { regionSettings } from "../regions/settings.ts";
import { assertVisible, requireOwner } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { iso, newId } from "./ids.ts";
import { adminBody, conflictOnUnique, scopedListQuery } from "./request.ts";

export const tenantRoutes = new Hono<AppEnv>();

// Writes need a live tenant: a key or provider for a revoked one would be dead on arrival.
export async function requireLiveTenant(db: Database, tenantId: string): Promise<void> {
  const tenant = await db.select().from(tenants).where(eq(tenants.id, tenantId)).get();
  if (!tenant) throw new ApiError(404, "tenant_not_found", `No tenant '${tenantId}'.`);
  if (tenant.revokedAt !== null) throw new ApiError(409, "tenant_revoked", `Tenant '${tenantId}' is revoked.`);
}

function view(row: TenantRow) {
  return { id: row.id, name: row.name, region: row.region, created_at: iso(row.createdAt), revoked_at: iso(row.revokedAt) };
}

tenantRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  requireOwner(claims);
  const body = await adminBody(c, createTenantBody);
  const region = regionSettings(c.env).self;
  // The home region is where this Worker stores; the region gate (workers/regions/gate.ts) already
  // sent the call to the region its token or X-EdgeClaw-Region names, so a different body region
  // is a contradiction, refused rather than stored in the wrong database.
  if (body.region !== undefined && body.region !== region) {
    throw new ApiError(409, "wrong_region", region === null
      ? `This deployment has no regions; leave out 'region'.`
      : `This call reached region '${region}'; to create a tenant in '${body.region}', send it with X-EdgeClaw-Region: ${body.region} (or a token minted with --region ${body.region}).`, { param: "region" });
  }
  const db = database(c.env.DB);
  const row: TenantRow = { id: body.id ?? newId("ten", c.env), name: body.name, createdAt: Date.now(), revokedAt: null, region };
  await db
    .batch([
      db.insert(tenants).values(row),
      auditInsert(db, claims, { tenantId: row.id, action: "tenant.create", target: row.id, metadata: { name: row.name } }),
    ])
    .catch((err: unknown) => conflictOnUnique(err, `A tenant with id '${row.id}' already exists.`));
  return c.json(view(row), 201);
});

tenantRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(tenants)
    .where(tenantId === undefined ? undefined : eq(tenants.id, tenantId))
    .orderBy(desc(tenants.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(view) });
});

tenantRoutes.get("/:id", async (c) => {
  const claims = c.get("admin");
  const id = c.req.param("id");
  assertVisible(claims, id, "tenant");
  const row = await database(c.env.DB).select().from(tenants).where(eq(tenants.id, id)).get();
  if (!row) throw new ApiError(404, "not_found", "No such tenant.");
  return c.json(view(row));
});

tenantRoutes.post("/:id/revoke", async (c) => {
  const claims = c.get("admin");
  requireOwner(claims);
  const id = c.req.param("id");
  const db = database(c.env.DB);
  const row = await db.select().from(tenants).where(eq(tenants.id, id)).get();
  if (!row) throw new ApiError(404, "not_found", "No such tenant.");
  if (row.revokedAt !== null) return c.json(view(row));
  const revokedAt = Date.now();
  await db.batch([
    db.update(tenants).set({ revokedAt }).where(eq(tenants.id, id)),
    auditInsert(db, claims, { tenantId: id, action: "tenant.revoke", target: id }, revokedAt),
  ]);
  // The key cache is keyed by key hash, not tenant: drop it all (cheap; it refills per key).
  forgetAllKeys();
  forgetCatalog(id);
  forgetTenantStatus(id);
  return c.json(view({ ...row, revokedAt }));
});
