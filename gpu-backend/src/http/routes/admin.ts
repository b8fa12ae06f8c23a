// /admin: load, replace and unload models without a restart. Bearer ADMIN_TOKEN; without one
// configured the admin API is off rather than open. Model paths are confined to hf: URIs and
// MODELS_DIR (models/allowed-source.ts), with one refusal for everything else.
import { Hono } from "hono";
import { InvalidModelFileError } from "../../gguf/validate.ts";
import type { LoadedModel } from "../../engine/loaded-model.ts";
import { SourceNotAllowedError } from "../../models/allowed-source.ts";
import { DownloadFailedError } from "../../models/source.ts";
import { requireAdmin } from "../auth.ts";
import type { Deps } from "../deps.ts";
import { ApiError, fromZod } from "../errors.ts";
import { ModelLoadRequest } from "../schema.ts";

function modelView(m: LoadedModel) {
  return {
    id: m.id,
    path: m.spec.path,
    context_size: m.contextSize,
    slots: m.pool.size,
    running: m.pool.running,
    waiting: m.pool.waiting,
    loaded_at: Math.floor(m.loadedAt / 1000),
    fingerprint: m.fingerprint,
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
      if (e instanceof SourceNotAllowedError) throw new ApiError(400, e.message, "path_not_allowed", "path");
      const reason = e instanceof DownloadFailedError ? e.reason : e instanceof Error ? e.message : String(e);
      throw new ApiError(502, `Could not fetch ${source}: ${reason}`, "model_download_failed");
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
