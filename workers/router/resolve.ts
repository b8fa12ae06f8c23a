// Picks the target for a request: the tenant's model of that public name and its provider.
import { settings, type Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { tenantCatalog, type Catalog, type RouteTarget } from "./catalog.ts";

export function catalogFor(env: Env, tenantId: string): Promise<Catalog> {
  return tenantCatalog(env.DB, tenantId, settings(env).cacheTtlMs);
}

export async function resolveModel(env: Env, tenantId: string, model: string): Promise<RouteTarget> {
  const target = (await catalogFor(env, tenantId)).get(model);
  if (!target) {
    throw new ApiError(404, "model_not_found", `The model '${model}' does not exist or you do not have access to it.`, {
      param: "model",
    });
  }
  return target;
}
