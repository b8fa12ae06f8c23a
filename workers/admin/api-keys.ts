// /admin/api-keys: create (the key is in the answer once and nowhere else, ever), list, revoke.
import { desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { apiKeyScopes, createApiKeyBody } from "../../schema/admin.ts";
import { apiKeys, type ApiKeyRow } from "../../schema/db.ts";
import { displayPrefix, generateApiKey, hashApiKey } from "../auth/api-keys.ts";
import { regionSettings } from "../regions/settings.ts";
import { forgetKey } from "../auth/principal.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { iso, newId } from "./ids.ts";
import { adminBody, scopedListQuery } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";

export const apiKeyRoutes = new Hono<AppEnv>();

function view(row: ApiKeyRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as string[],
    created_at: iso(row.createdAt),
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
  };
}

apiKeyRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createApiKeyBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  const expiresAt = body.expires_at === undefined ? null : Date.parse(body.expires_at);
  if (expiresAt !== null && expiresAt <= Date.now()) {
    throw new ApiError(400, "invalid_value", "expires_at: must be in the future.");
  }
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);

  const key = generateApiKey(regionSettings(c.env).self);
  const row: ApiKeyRow = {
    id: newId("key", c.env),
    tenantId,
    name: body.name,
    keyHash: await hashApiKey(key),
    prefix: displayPrefix(key),
    scopes: JSON.stringify(body.scopes ?? [...apiKeyScopes]),
    createdAt: Date.now(),
    expiresAt,
    revokedAt: null,
  };
  await db.batch([
    db.insert(apiKeys).values(row),
    auditInsert(db, claims, {
      tenantId,
      action: "api_key.create",
      target: row.id,
      metadata: { name: row.name, prefix: row.prefix, scopes: JSON.parse(row.scopes), expires_at: iso(expiresAt) },
    }),
  ]);
  return c.json({ ...view(row), key }, 201);
});

apiKeyRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(apiKeys)
    .where(tenantId === undefined ? undefined : eq(apiKeys.tenantId, tenantId))
    .orderBy(desc(apiKeys.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(view) });
});

apiKeyRoutes.post("/:id/revoke", async (c) => {
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const row = await db.select().from(apiKeys).where(eq(apiKeys.id, c.req.param("id"))).get();
  if (!row) throw new ApiError(404, "not_found", "No such API key.");
  assertVisible(claims, row.tenantId, "API key");
  tenantForWrite(claims, row.tenantId);
  if (row.revokedAt !== null) return c.json(view(row));
  const revokedAt = Date.now();
  await db.batch([
    db.update(apiKeys).set({ revokedAt }).where(eq(apiKeys.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "api_key.revoke", target: row.id, metadata: { prefix: row.prefix } }, revokedAt),
  ]);
  forgetKey(row.keyHash);
  return c.json(view({ ...row, revokedAt }));
});
