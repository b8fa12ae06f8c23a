// /admin/router-config: a tenant's router config, versioned. PUT validates the document (zod,
// then every provider it names must be a live provider of the tenant) and writes it as the next
// version; rollback writes an earlier version again as the next one, so history is append-only
// and the head version only grows (what isolates compare). Every write is one D1 batch with its
// audit row. Other isolates pick a change up about CONFIG_REFRESH_MS after it (routing.ts); this one
// at once. Also: the breaker state of a route's targets and the spend of a tenant or key.
import { and, desc, eq, sql } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { putRouterConfigBody, rollbackBody, routerConfig, storedRouterConfig, type RouterConfig } from "../../schema/route-config.ts";
import { routeConfigHeads, routeConfigVersions, type RouteConfigVersionRow } from "../../schema/router.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { breakerKey } from "../router/breakers.ts";
import { liveProviders, providerNames, replicaRefs, routingFor, forgetRouting } from "../router/routing.ts";
import { actorOf, tenantForRead, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { iso } from "./ids.ts";
import { adminBody } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";
import { objectNamed } from "../regions/objects.ts";

export const routerConfigRoutes = new Hono<AppEnv>();

export const tenantQuery = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  model: z.string().min(1).max(256).optional(),
  key_id: z.string().min(1).max(64).optional(),
});

// Reads name one tenant: a scoped token's own, or the one an owner/unscoped viewer asks for.
function readTenant(c: Context<AppEnv>) {
  const q = parseOr400(tenantQuery, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  if (!tenantId) throw new ApiError(400, "invalid_value", "tenant_id: required with a token that is not scoped to a tenant.");
  return { ...q, tenantId };
}

function versionView(row: RouteConfigVersionRow, withConfig: boolean) {
  return {
    tenant_id: row.tenantId,
    version: row.version,
    created_at: iso(row.createdAt),
    actor: row.actor,
    comment: row.comment,
    rolled_back_from: row.rolledBackFrom,
    ...(withConfig ? { config: JSON.parse(row.config) as unknown } : {}),
  };
}

async function writeVersion(
  c: Context<AppEnv>,
  tenantId: string,
  config: RouterConfig,
  meta: { comment?: string; rolledBackFrom?: number; action: string },
): Promise<Response> {
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const live = new Map((await liveProviders(c.env.DB, tenantId)).map((p) => [p.name, p]));
  const missing = [...providerNames(config)].filter((n) => !live.has(n));
  if (missing.length > 0) {
    throw new ApiError(400, "unknown_provider", `The config names providers tenant '${tenantId}' does not have (or has revoked): ${missing.join(", ")}.`);
  }
  // Replicas are declared on the provider (with their URLs); a config may only pick among them.
  const undeclared = replicaRefs(config).filter((ref) => !live.get(ref.provider)?.replicas.some((r) => r.id === ref.replica));
  if (undeclared.length > 0) {
    const names = [...new Set(undeclared.map((u) => `${u.provider}/${u.replica}`))].join(", ");
    throw new ApiError(400, "unknown_replica", `The config names replicas its providers do not declare: ${names}. Declare them on the provider (PATCH /admin/providers/:id).`);
  }
  const claims = c.get("admin");
  const now = Date.now();
  const body = JSON.stringify(config);
  const next = await nextVersion(db, tenantId);
  try {
    const audit = auditInsert(db, claims, { tenantId, action: meta.action, target: `router-config:${tenantId}`, metadata: { version: next, rolled_back_from: meta.rolledBackFrom ?? null, comment: meta.comment ?? null } }, now).toSQL();
    // One D1 batch (a transaction). The version is computed inside the statement and must be
    // the one read above: a concurrent write makes it insert nothing (caught below).
    await c.env.DB.batch([
      c.env.DB.prepare(
        `INSERT INTO route_config_versions (tenant_id, version, config, created_at, actor, rolled_back_from, comment)
         SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM route_config_versions WHERE tenant_id = ?1
         HAVING COALESCE(MAX(version), 0) + 1 = ?7`,
      ).bind(tenantId, body, now, actorOf(claims), meta.rolledBackFrom ?? null, meta.comment ?? null, next),
      c.env.DB.prepare(
        `INSERT INTO route_config_heads (tenant_id, version, updated_at)
         SELECT ?1, MAX(version), ?2 FROM route_config_versions WHERE tenant_id = ?1
         ON CONFLICT(tenant_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      ).bind(tenantId, now),
      c.env.DB.prepare(audit.sql).bind(...audit.params),
    ]);
  } catch (err) {
    if (err instanceof Error && /UNIQUE|PRIMARY KEY/i.test(err.message + String(err.cause ?? ""))) {
      throw new ApiError(409, "conflict", "Another config change was saved at the same time; load the config and try again.");
    }
    throw err;
  }
  const row = await loadVersion(db, tenantId, next);
  if (!row || row.config !== body) {
    throw new ApiError(409, "conflict", "Another config change was saved at the same time; load the config and try again.");
  }
  forgetRouting(tenantId);
  return c.json({ ...versionView(row, true), active: true }, 201);
}

async function nextVersion(db: Database, tenantId: string): Promise<number> {
  const row = await db
    .select({ max: sql<number>`COALESCE(MAX(${routeConfigVersions.version}), 0)` })
    .from(routeConfigVersions)
    .where(eq(routeConfigVersions.tenantId, tenantId))
    .get();
  return (row?.max ?? 0) + 1;
}

function loadVersion(db: Database, tenantId: string, version: number) {
  return db
    .select()
    .from(routeConfigVersions)
    .where(and(eq(routeConfigVersions.tenantId, tenantId), eq(routeConfigVersions.version, version)))
    .get();
}

routerConfigRoutes.put("/", async (c) => {
  const body = await adminBody(c, putRouterConfigBody);
  const tenantId = tenantForWrite(c.get("admin"), body.tenant_id);
  return writeVersion(c, tenantId, body.config, { comment: body.comment, action: "router_config.update" });
});

routerConfigRoutes.post("/rollback", async (c) => {
  const body = await adminBody(c, rollbackBody);
  const tenantId = tenantForWrite(c.get("admin"), body.tenant_id);
  const row = await loadVersion(database(c.env.DB), tenantId, body.version);
  if (!row) throw new ApiError(404, "not_found", `Tenant '${tenantId}' has no router config version ${body.version}.`);
  // A version saved before replicas moved onto providers is read as stored (replica URLs dropped).
  const config = storedRouterConfig.safeParse(JSON.parse(row.config));
  if (!config.success) throw new ApiError(409, "incompatible_version", `Version ${body.version} is not valid under this deployment's schema.`);
  return writeVersion(c, tenantId, config.data, { comment: body.comment, rolledBackFrom: body.version, action: "router_config.rollback" });
});

routerConfigRoutes.get("/", async (c) => {
  const { tenantId } = readTenant(c);
  const db = database(c.env.DB);
  const head = await db.select().from(routeConfigHeads).where(eq(routeConfigHeads.tenantId, tenantId)).get();
  if (!head) return c.json({ tenant_id: tenantId, version: 0, config: routerConfig.parse({}), created_at: null });
  const row = await loadVersion(db, tenantId, head.version);
  if (!row) throw new ApiError(404, "not_found", "The active version is missing.");
  return c.json(versionView(row, true));
});

routerConfigRoutes.get("/versions", async (c) => {
  const { tenantId, limit } = readTenant(c);
  const rows = await database(c.env.DB)
    .select()
    .from(routeConfigVersions)
    .where(eq(routeConfigVersions.tenantId, tenantId))
    .orderBy(desc(routeConfigVersions.version))
    .limit(limit ?? 100);
  return c.json({ data: rows.map((r) => versionView(r, false)) });
});

routerConfigRoutes.get("/versions/:version{[0-9]+}", async (c) => {
  const { tenantId } = readTenant(c);
  const row = await loadVersion(database(c.env.DB), tenantId, Number(c.req.param("version")));
  if (!row) throw new ApiError(404, "not_found", "No such version.");
  return c.json(versionView(row, true));
});

// GET /admin/router-config/breakers?model=: every target (and replica) breaker of a route.
routerConfigRoutes.get("/breakers", async (c) => {
  const { tenantId, model } = readTenant(c);
  if (!model) throw new ApiError(400, "invalid_value", "model: required.");
  const routing = await routingFor(c.env, tenantId, (p) => c.executionCtx.waitUntil(p));
  const route = routing.routes.get(model);
  if (!route) throw new ApiError(404, "not_found", `Tenant '${tenantId}' has no route '${model}'.`);
  const keys = route.targets.flatMap((t): { path: string; replica: string | null; key: string }[] =>
    t.replicas
      ? t.replicas.map((r) => ({ path: t.path, replica: r.id, key: breakerKey(tenantId, route.name, t.path, r.id) }))
      : [{ path: t.path, replica: null, key: breakerKey(tenantId, route.name, t.path) }],
  );
  const data = await Promise.all(
    keys.map(async (k) => {
      const view = await objectNamed(c.env, c.env.BREAKERS, k.key).view();
      return {
        path: k.path,
        replica: k.replica,
        phase: view.phase,
        opened_at: iso(view.openedAt),
        open_until: view.phase === "closed" ? null : iso(view.openUntil),
        times_opened: view.timesOpened,
        // API keys whose own breaker is open (their failures alone; docs/router.md, fairness).
        callers_open: Object.keys(view.callersOpen ?? {}).length,
      };
    }),
  );
  return c.json({ data });
});

// GET /admin/router-config/spend?key_id=: the tenant's (or one key's) spend today and this month.
routerConfigRoutes.get("/spend", async (c) => {
  const { tenantId, key_id } = readTenant(c);
  const name = key_id ? `key:${key_id}` : `tenant:${tenantId}`;
  if (key_id) {
    const owner = await c.env.DB.prepare("SELECT tenant_id FROM api_keys WHERE id = ?").bind(key_id).first<{ tenant_id: string }>();
    if (owner?.tenant_id !== tenantId) throw new ApiError(404, "not_found", "No such API key.");
  }
  const spent = await objectNamed(c.env, c.env.BUDGETS, name).spent();
  return c.json({ tenant_id: tenantId, key_id: key_id ?? null, day: spent.day, day_usd: spent.dayUsd, month: spent.month, month_usd: spent.monthUsd });
});
