// /admin/providers: create, list, revoke upstream providers. A provider row names its credential
// (vault:<name> of its own tenant, or a PROVIDER_* Worker secret) but never holds it. Only an
// owner may name a PROVIDER_* secret: those are deployment-wide, and a tenant admin who could
// point a provider with someone else's credential at a base URL of their choosing could read it.
import { desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { createProviderBody } from "../../schema/admin.ts";
import { models, providers, type ProviderRow } from "../../schema/db.ts";
import { database } from "../db.ts";
import { parseStoredReplicas, updateProviderBody, type ProviderReplica } from "../../schema/provider-replicas.ts";
import type { AppEnv, Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { forgetCatalog, isDeploymentCredential } from "../router/catalog.ts";
import { assertOutboundUrl } from "../security/outbound-url.ts";
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
    replicas: parseStoredReplicas(row.replicas),
    created_at: iso(row.createdAt),
    revoked_at: iso(row.revokedAt),
  };
}

providerRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createProviderBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  assertMayReference(claims, body.credential_ref, "credential_ref");
  // Every URL the provider's credential may go to passes the outbound-URL policy (SSRF).
  if (body.base_url !== undefined) assertOutboundUrl(c.env, body.base_url, "base_url");
  if (body.replicas) assertReplicaUrls(c.env, body.replicas);
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const row: ProviderRow = {
    id: newId("prv", c.env),
    tenantId,
    name: body.name,
    kind: body.kind,
    baseUrl: body.base_url ?? "binding:AI",
    credentialRef: body.credential_ref ?? null,
    timeoutMs: body.timeout_ms ?? null,
    replicas: body.replicas ? JSON.stringify(body.replicas) : null,
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
        metadata: { name: row.name, kind: row.kind, base_url: row.baseUrl, credential_ref: row.credentialRef, replicas: body.replicas ?? null },
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

// PATCH /admin/providers/:id: declare (or remove) the provider's replicas. They receive the
// provider's credential, so a deployment credential (PROVIDER_*) keeps its owner's say over where
// it goes: only an owner may change them then. A tenant's own provider (no credential, or its own
// vault: secret) is the tenant admin's to point anywhere the outbound-URL policy allows.
providerRoutes.patch("/:id", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, updateProviderBody);
  const db = database(c.env.DB);
  const row = await db.select().from(providers).where(eq(providers.id, c.req.param("id"))).get();
  if (!row) throw new ApiError(404, "not_found", "No such provider.");
  assertVisible(claims, row.tenantId, "provider");
  tenantForWrite(claims, row.tenantId);
  if (row.revokedAt !== null) throw new ApiError(409, "provider_revoked", "The provider is revoked.");
  if (isDeploymentCredential(row.credentialRef) && claims.role !== "owner") {
    throw new ApiError(403, "forbidden", "Only an owner may change where a provider with a deployment credential (PROVIDER_*) sends it.");
  }
  if (body.replicas) assertReplicaUrls(c.env, body.replicas);
  const replicas = body.replicas ? JSON.stringify(body.replicas) : null;
  await db.batch([
    db.update(providers).set({ replicas }).where(eq(providers.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "provider.update", target: row.id, metadata: { name: row.name, replicas: body.replicas } }),
  ]);
  forgetCatalog(row.tenantId);
  return c.json(view({ ...row, replicas }));
});

function assertReplicaUrls(env: Env, replicas: ProviderReplica[]): void {
  replicas.forEach((r, i) => {
    assertOutboundUrl(env, r.base_url, `replicas[${i}].base_url`);
    if (r.metrics_url !== undefined) assertOutboundUrl(env, r.metrics_url, `replicas[${i}].metrics_url`);
  });
}

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
