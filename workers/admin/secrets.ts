// /admin/secrets: the tenant's vault (workers/vault/). Values are write-only: every answer shows
// a secret's name, key id and times, never its value, and audit rows name the secret only.
//   PUT    /secrets/:name   {tenant_id?, value}        create or replace
//   POST   /secrets         {tenant_id?, name, value}  create or replace
//   GET    /secrets         ?tenant_id= &limit=        list (metadata)
//   GET    /secrets/:name   ?tenant_id=                one (metadata)
//   DELETE /secrets/:name   ?tenant_id=
//   POST   /secrets/rotate  {batch_size?}              owner only: re-seal one batch under the
//                                                      current VAULT_KEYS key; answers what remains
// Tenant scope as everywhere in the admin API (access.ts); writes need a live tenant.
import { asc, eq } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { createSecretBody, putSecretBody, rotateSecretsBody, secretName, secretQuery, vaultSecrets, type VaultSecretRow } from "../../schema/vault.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { rotateBatch } from "../vault/rotation.ts";
import { deleteStatement, findRow, forgetSecret, sealedRow, upsertStatement } from "../vault/store.ts";
import { requireOwner, tenantForRead, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { iso } from "./ids.ts";
import { adminBody, scopedListQuery } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";

export const secretRoutes = new Hono<AppEnv>();

function view(row: VaultSecretRow) {
  return {
    tenant_id: row.tenantId,
    name: row.name,
    ref: `vault:${row.name}`,
    key_id: row.keyId,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
    rotated_at: iso(row.rotatedAt),
  };
}

function nameParam(c: Context<AppEnv>): string {
  return parseOr400(secretName, c.req.param("name"));
}

async function put(c: Context<AppEnv>, requestedTenant: string | undefined, name: string, value: string): Promise<Response> {
  const claims = c.get("admin");
  const tenantId = tenantForWrite(claims, requestedTenant);
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const existing = await findRow(db, tenantId, name);
  const now = Date.now();
  const row = await sealedRow(c.env, tenantId, name, value, now, existing?.createdAt ?? now);
  await db.batch([
    upsertStatement(db, row),
    auditInsert(db, claims, { tenantId, action: existing ? "secret.replace" : "secret.create", target: `vault:${name}`, metadata: { name, key_id: row.keyId } }, now),
  ]);
  forgetSecret(tenantId, name);
  return c.json(view(row), existing ? 200 : 201);
}

// Registered before /:name so that "rotate" is never taken for a secret's name on POST.
secretRoutes.post("/rotate", async (c) => {
  const claims = c.get("admin");
  requireOwner(claims);
  const body = await adminBody(c, rotateSecretsBody);
  const db = database(c.env.DB);
  const result = await rotateBatch(c.env, db, body.batch_size ?? 100, (attempted, currentKeyId) =>
    auditInsert(db, claims, { tenantId: null, action: "secret.rotate", target: `vault-key:${currentKeyId}`, metadata: { key_id: currentKeyId, attempted } }),
  );
  return c.json(result);
});

secretRoutes.post("/", async (c) => {
  const body = await adminBody(c, createSecretBody);
  return put(c, body.tenant_id, body.name, body.value);
});

secretRoutes.put("/:name", async (c) => {
  const name = nameParam(c);
  const body = await adminBody(c, putSecretBody);
  return put(c, body.tenant_id, name, body.value);
});

secretRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(vaultSecrets)
    .where(tenantId === undefined ? undefined : eq(vaultSecrets.tenantId, tenantId))
    .orderBy(asc(vaultSecrets.tenantId), asc(vaultSecrets.name))
    .limit(limit);
  return c.json({ data: rows.map(view) });
});

secretRoutes.get("/:name", async (c) => {
  const name = nameParam(c);
  const q = parseOr400(secretQuery, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  if (tenantId === undefined) throw new ApiError(400, "invalid_value", "tenant_id: required with a token of every tenant.");
  const row = await findRow(database(c.env.DB), tenantId, name);
  if (!row) throw new ApiError(404, "not_found", "No such secret.");
  return c.json(view(row));
});

secretRoutes.delete("/:name", async (c) => {
  const claims = c.get("admin");
  const name = nameParam(c);
  const q = parseOr400(secretQuery, c.req.query());
  const tenantId = tenantForWrite(claims, q.tenant_id);
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const row = await findRow(db, tenantId, name);
  if (!row) throw new ApiError(404, "not_found", "No such secret.");
  await db.batch([deleteStatement(db, tenantId, name), auditInsert(db, claims, { tenantId, action: "secret.delete", target: `vault:${name}`, metadata: { name } })]);
  forgetSecret(tenantId, name);
  return c.json({ tenant_id: tenantId, name, deleted: true });
});
