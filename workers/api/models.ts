// GET /v1/models and GET /v1/models/:model, in OpenAI's shapes: the names the caller's tenant can
// send to /v1/chat/completions. Read from the same compiled routing chat uses (its enabled
// catalog models and the routes of its router config), so the list is exactly what chat accepts.
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { routingFor, type CompiledRoute, type TenantRouting } from "../router/routing.ts";

function modelObject(route: CompiledRoute) {
  // The tenant's provider that serves the route when every target is the same one; a route
  // that spans providers is the gateway's own.
  const owners = new Set(route.targets.map((t) => t.node.provider));
  return {
    id: route.name,
    object: "model" as const,
    // Unix seconds, as OpenAI gives them: when the catalog model was created, or when the router
    // config version that defines the route was saved.
    created: Math.floor(route.createdAt / 1000),
    owned_by: owners.size === 1 ? [...owners][0]! : "edgeclaw",
  };
}

function tenantRouting(c: Context<AppEnv>): Promise<TenantRouting> {
  const waitUntil = (p: Promise<unknown>) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      void p.catch(() => {});
    }
  };
  return routingFor(c.env, c.get("principal").tenantId, waitUntil);
}

export async function listModels(c: Context<AppEnv>): Promise<Response> {
  const routes = [...(await tenantRouting(c)).routes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return c.json({ object: "list", data: routes.map(modelObject) });
}

export async function retrieveModel(c: Context<AppEnv>): Promise<Response> {
  const model = c.req.param("model") ?? "";
  const route = (await tenantRouting(c)).routes.get(model);
  if (!route) {
    throw new ApiError(404, "model_not_found", `The model '${model}' does not exist or you do not have access to it.`, {
      param: "model",
    });
  }
  return c.json(modelObject(route));
}
