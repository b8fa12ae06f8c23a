// GET /v1/models and GET /v1/models/:model: the caller's tenant's enabled models, in OpenAI's shapes.
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import type { RouteTarget } from "../router/catalog.ts";
import { catalogFor, resolveModel } from "../router/resolve.ts";

function modelObject(target: RouteTarget) {
  return {
    id: target.publicName,
    object: "model" as const,
    created: Math.floor(target.createdAt / 1000),
    owned_by: target.provider.name,
  };
}

export async function listModels(c: Context<AppEnv>): Promise<Response> {
  const catalog = await catalogFor(c.env, c.get("principal").tenantId);
  return c.json({ object: "list", data: [...catalog.values()].map(modelObject) });
}

export async function retrieveModel(c: Context<AppEnv>): Promise<Response> {
  const target = await resolveModel(c.env, c.get("principal").tenantId, c.req.param("model") ?? "");
  return c.json(modelObject(target));
}
