// GET /openapi.json (the /v1 API and the other public routes) and GET /admin/openapi.json (the
// admin API). Both are static for a given build: each is generated once per isolate, on first
// request, and kept. Neither holds a secret or any tenant's data (they describe routes only), so
// both are public; workers/app.ts mounts them before the region gate and the admin auth, which
// also lets a global entry Worker (no storage, no region) serve them. docs/openapi.md says why.
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { adminConfigRoutes } from "./admin-config.ts";
import { adminOpsRoutes } from "./admin-ops.ts";
import { buildDocument } from "./document.ts";
import { publicRoutes } from "./public-routes.ts";
import type { RouteDoc } from "./registry.ts";

export const ADMIN_DOCUMENT_PATH = "/admin/openapi.json";
export const PUBLIC_DOCUMENT_PATH = "/openapi.json";

const VERSION = "0.1.0";

export const adminRoutes: readonly RouteDoc[] = [
  ...adminConfigRoutes,
  ...adminOpsRoutes,
  { auth: "none", method: "get", path: ADMIN_DOCUMENT_PATH, operationId: "openApiAdmin", tag: "Admin API description", summary: "This document", ok: { 200: { description: "OpenAPI 3.1 description of the admin API." } } },
];

// Every described route of the app, for test/openapi/ (each must exist, and each route of the
// app must be described).
export const allRoutes: readonly RouteDoc[] = [...publicRoutes, ...adminRoutes];

let publicDoc: string | undefined;
let adminDoc: string | undefined;

export function publicDocument(): string {
  publicDoc ??= JSON.stringify(
    buildDocument(publicRoutes, {
      title: "EdgeClaw gateway API",
      description: "The OpenAI- and Anthropic-compatible API under /v1 (a tenant API key as bearer), the channel webhooks and hooks, and the operator's health and metrics routes. The admin API is described at /admin/openapi.json.",
      version: VERSION,
    }),
  );
  return publicDoc;
}

export function adminDocument(): string {
  adminDoc ??= JSON.stringify(
    buildDocument(adminRoutes, {
      title: "EdgeClaw admin API",
      description: "Tenants, keys, providers, models, routes, secrets, channels, agents, sessions, jobs, usage and audit. Every route takes an admin token as bearer; its role (owner, admin, viewer) and tenant scope decide what it may do (each operation lists its roles). Tenant scope comes from the token: a body or query may only name the token's own tenant.",
      version: VERSION,
    }),
  );
  return adminDoc;
}

function serve(c: Context<AppEnv>, body: string): Response {
  return c.body(body, 200, { "content-type": "application/json; charset=utf-8", "cache-control": "public, max-age=300" });
}

export const servePublicDocument = (c: Context<AppEnv>) => serve(c, publicDocument());
export const serveAdminDocument = (c: Context<AppEnv>) => serve(c, adminDocument());
