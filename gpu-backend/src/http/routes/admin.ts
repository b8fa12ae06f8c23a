// /admin: load, replace and unload models without a restart. Bearer ADMIN_TOKEN; without one
// configured the admin API is off rather than open.
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { InvalidModelFileError } from "../../gguf/validate.ts";
import type { LoadedModel } from "../../engine/loaded-model.ts";
import type { Deps } from "../deps.ts";
import { ApiError, fromZod } from "../errors.ts";
import { ModelLoadRequest } from "../schema.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

function requireAdmin(token: string | undefined): MiddlewareHandler {
  // Comparing fixed-length digests keeps the comparison constant-time whatever the input length.
  const expected = token ? digest(token) : undefined;
  return async (c, next) => {
    if (!expected) throw new ApiError(403, "The admin API is disabled: set ADMIN_TOKEN to enable it.", "admin_disabled", null, "permission_error");
    const given = c.req.header("authorization")?.match(/^Bearer (.+)$/)?.[1] ?? "";
    if (!timingSafeEqual(digest(given), expected)) {
      throw new ApiError(401, "Missing or invalid admin token.", "invalid_api_key", null, "authentication_error");
    }
    await next();
  };
}

function modelView(m: LoadedModel) {
  return {
    id: m.id,
    path: m.spec.path,
    context_size: m.contextSize,
    slots: m.pool.size,
    running: m.pool.running,
    waiting: m.pool.waiting,
    loaded_at: Math.floor(m.loadedAt / 1000),
  };
}

export function adminRoutes(deps: Deps) {
  const app = new Hono();
  app.use("*", requireAdmin(deps.adminToken));
  app.get("/models", (c) => c.json({ object: "list", data: deps.registry.list().map(modelView) }));

  app.put("/models/:id{[\\w.:\\-/]+}", async (c) => {
    const parsed = ModelLoadRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw fromZod(parsed.error);
    const { path: source, ...rest } = parsed.data;
    let path: string;
    try {
      path = await deps.resolveSource(source);
    } catch (e) {
      throw new ApiError(502, `Could not fetch ${source}: ${e instanceof Error ? e.message : String(e)}`, "model_download_failed");
    }
    try {
      const { model, replaced } = await deps.registry.load({ id: c.req.param("id"), path, ...rest });
      return c.json({ replaced, model: modelView(model) }, replaced ? 200 : 201);
    } catch (e) {
      if (e instanceof InvalidModelFileError) throw new ApiError(422, e.message, "invalid_model_file", "path");
      throw new ApiError(422, `The model could not be loaded: ${e instanceof Error ? e.message : String(e)}`, "model_load_failed", "path");
    }
  });

  app.delete("/models/:id{[\\w.:\\-/]+}", async (c) => {
    const id = c.req.param("id");
    if (!(await deps.registry.unload(id))) throw new ApiError(404, `The model '${id}' is not loaded.`, "model_not_found");
    return c.json({ id, deleted: true });
  });
  return app;
}
