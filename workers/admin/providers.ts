// /admin/providers: create, list, revoke upstream providers. A provider row names its credential
// (vault:<name> of its own tenant, or a PROVIDER_* Worker secret) but never holds it. Only an
// owner may name a PROVIDER_* secret: those are deployment-wide, and a tenant admin who could
// point a provider with someone else's credential at a base URL of their choosing could read it.
import { desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { createProviderBody } from "../../schema/admin.ts";
import { models, providers, type ProviderRow } from "../../schema/db.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { forgetCatalog } from "../router/catalog.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { assertMayReference } from "./secret-refs.ts";
import { iso, newId } from "./ids.ts";
import { adminBody, conflictOnUnique, scopedListQuery } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";

export const providerRoutes = new Hono<AppEnv>();

function view(row: ProviderRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    kind: row.kind,
    base_url: row.baseUrl,
    credential_ref: row.credentialRef,
    timeout_ms: row.timeoutMs,
    created_at: iso(row.createdAt),
    revoked_at: iso(row.revokedAt),
  };
}

providerRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createProviderBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  assertMayReference(claims, body.credential_ref, "credential_ref");
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const row: ProviderRow = {
    id: newId("prv"),
    tenantId,
    name: body.name,
    kind: body.kind,
    baseUrl: body.base_url ?? "binding:AI",
    credentialRef: body.credential_ref ?? null,
    timeoutMs: body.timeout_ms ?? null,
    createdAt: Date.now(),
    revokedAt: null,
  };
  await db
    .batch([
      db.insert(providers).values(row),
      auditInsert(db, claims, {
        tenantId,
        action: "provider.create",
        target: row.id,
        metadata: { name: row.name, kind: row.kind, base_url: row.baseUrl, credential_ref: row.credentialRef },
      }),
    ])
    .catch((err: unknown) => conflictOnUnique(err, `Tenant '${tenantId}' already has a provider named '${row.name}'.`));
  forgetCatalog(tenantId);
  return c.json(view(row), 201);
});

providerRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(providers)
    .where(tenantId === undefined ? undefined : eq(providers.tenantId, tenantId))
    .orderBy(desc(providers.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(view) });
});

providerRoutes.post("/:id/revoke", async (c) => {
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const row = await db.select().from(providers).where(eq(providers.id, c.req.param("id"))).get();
  if (!row) throw new ApiError(404, "not_found", "No such provider.");
  assertVisible(claims, row.tenantId, "provider");
  tenantForWrite(claims, row.tenantId);
  if (row.revokedAt !== null) return c.json(view(row));
  // The models this takes out of service are named in the audit row, so the record says what
  // clients lost, not only which provider went.
  const served = await db.select({ id: models.id }).from(models).where(eq(models.providerId, row.id));
  const revokedAt = Date.now();
  await db.batch([
    db.update(providers).set({ revokedAt }).where(eq(providers.id, row.id)),
    auditInsert(
      db,
      claims,
      { tenantId: row.tenantId, action: "provider.revoke", target: row.id, metadata: { name: row.name, models: served.map((m) => m.id) } },
      revokedAt,
    ),
  ]);
  forgetCatalog(row.tenantId);
  return c.json(view({ ...row, revokedAt }));
});
