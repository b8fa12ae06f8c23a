// /admin/models: create, list, update (enable/disable, prices, upstream id, kind) and revoke (disable)
// the models a tenant's clients can call. A model must use a live provider of the same tenant.
import { and, desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { createModelBody, updateModelBody } from "../../schema/admin.ts";
import { models, providers, type ModelRow } from "../../schema/db.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { forgetCatalog } from "../router/catalog.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { iso, newId } from "./ids.ts";
import { adminBody, conflictOnUnique, scopedListQuery } from "./request.ts";

export const modelRoutes = new Hono<AppEnv>();

function view(row: ModelRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    public_name: row.publicName,
    provider_id: row.providerId,
    upstream_model: row.upstreamModel,
    kind: row.kind,
    context_window: row.contextWindow,
    input_price_per_mtok: row.inputPricePerMtok,
    output_price_per_mtok: row.outputPricePerMtok,
    enabled: row.enabled,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

async function loadVisible(db: Database, claims: Parameters<typeof assertVisible>[0], id: string): Promise<ModelRow> {
  const row = await db.select().from(models).where(eq(models.id, id)).get();
  if (!row) throw new ApiError(404, "not_found", "No such model.");
  assertVisible(claims, row.tenantId, "model");
  tenantForWrite(claims, row.tenantId);
  return row;
}

modelRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createModelBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  const db = database(c.env.DB);
  const provider = await db
    .select()
    .from(providers)
    .where(and(eq(providers.id, body.provider_id), eq(providers.tenantId, tenantId)))
    .get();
  if (!provider || provider.revokedAt !== null) {
    throw new ApiError(404, "provider_not_found", `Tenant '${tenantId}' has no live provider '${body.provider_id}'.`);
  }
  const now = Date.now();
  const row: ModelRow = {
    id: newId("mdl", c.env),
    tenantId,
    publicName: body.public_name,
    providerId: provider.id,
    upstreamModel: body.upstream_model,
    kind: body.kind ?? "chat",
    contextWindow: body.context_window ?? null,
    inputPricePerMtok: body.input_price_per_mtok ?? 0,
    outputPricePerMtok: body.output_price_per_mtok ?? 0,
    enabled: body.enabled ?? true,
    createdAt: now,
    updatedAt: now,
  };
  await db
    .batch([
      db.insert(models).values(row),
      auditInsert(db, claims, { tenantId, action: "model.create", target: row.id, metadata: { ...view(row), id: undefined } }, now),
    ])
    .catch((err: unknown) => conflictOnUnique(err, `Tenant '${tenantId}' already has a model named '${row.publicName}'.`));
  forgetCatalog(tenantId);
  return c.json(view(row), 201);
});

modelRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(models)
    .where(tenantId === undefined ? undefined : eq(models.tenantId, tenantId))
    .orderBy(desc(models.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(view) });
});

modelRoutes.patch("/:id", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, updateModelBody);
  const db = database(c.env.DB);
  const row = await loadVisible(db, claims, c.req.param("id"));
  const changes: Partial<ModelRow> = { updatedAt: Date.now() };
  if (body.upstream_model !== undefined) changes.upstreamModel = body.upstream_model;
  if (body.kind !== undefined) changes.kind = body.kind;
  if (body.context_window !== undefined) changes.contextWindow = body.context_window;
  if (body.input_price_per_mtok !== undefined) changes.inputPricePerMtok = body.input_price_per_mtok;
  if (body.output_price_per_mtok !== undefined) changes.outputPricePerMtok = body.output_price_per_mtok;
  if (body.enabled !== undefined) changes.enabled = body.enabled;
  await db.batch([
    db.update(models).set(changes).where(eq(models.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "model.update", target: row.id, metadata: body }, changes.updatedAt),
  ]);
  forgetCatalog(row.tenantId);
  return c.json(view({ ...row, ...changes }));
});

modelRoutes.post("/:id/revoke", async (c) => {
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const row = await loadVisible(db, claims, c.req.param("id"));
  if (!row.enabled) return c.json(view(row));
  const updatedAt = Date.now();
  await db.batch([
    db.update(models).set({ enabled: false, updatedAt }).where(eq(models.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "model.revoke", target: row.id, metadata: { public_name: row.publicName } }, updatedAt),
  ]);
  forgetCatalog(row.tenantId);
  return c.json(view({ ...row, enabled: false, updatedAt }));
});
