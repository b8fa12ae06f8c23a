// Hono composition: cross-cutting middleware first (queue depth header, body limit, API keys, errors),
// then routes. /health and /health/ready stay open for probes; /v1, /metrics, /tokenize and
// /detokenize need an API key.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Deps } from "./http/deps.ts";
import { requireApiKey } from "./http/auth.ts";
import { ApiError } from "./http/errors.ts";
import { adminRoutes } from "./http/routes/admin.ts";
import { chatCompletions } from "./http/routes/chat.ts";
import { completions } from "./http/routes/completions.ts";
import { embeddings } from "./http/routes/embeddings.ts";
import { detokenize, tokenize } from "./http/routes/tokenize.ts";
import { tracing } from "./tracing/tracer.ts";

export function createApp(deps: Deps) {
  const app = new Hono();

  // Every response tells the router how deep the queue is, so it learns load without scraping.
  app.use("*", async (c, next) => {
    await next();
    // Load is for clients that got in, and probes: an unauthenticated caller learns nothing.
    if (c.res.status !== 401) c.res.headers.set("x-queue-depth", String(deps.registry.queueDepth));
  });
  // Before the body limit looks at the body: an unauthenticated caller's body is never parsed.
  const apiKey = requireApiKey(deps.apiKeys);
  app.use("/v1/*", apiKey);
  app.use("/metrics", apiKey);
  // vLLM's tokenizer routes live beside /v1, not under it; they are model API all the same.
  app.use("/tokenize", apiKey);
  app.use("/detokenize", apiKey);
  // After the key check, so only callers that got in can spend the span buffer.
  if (deps.spans) app.use("/v1/*", tracing(deps.spans));

  app.use(
    "*",
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: () => {
        throw new ApiError(413, `The request body is larger than ${deps.maxBodyBytes} bytes.`, "request_too_large");
      },
    }),
  );

  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/health/ready", (c) => {
    const models = deps.registry.list().map((m) => ({ id: m.id, slots: m.pool.size, free_slots: m.pool.size - m.pool.running, waiting: m.pool.waiting }));
    return c.json({ status: models.length ? "ready" : "not_ready", models }, models.length ? 200 : 503);
  });
  app.get("/metrics", async (c) => c.text(await deps.metrics.renderAll(deps.registry), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }));

  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: deps.registry.list().map((m) => ({ id: m.id, object: "model", created: Math.floor(m.loadedAt / 1000), owned_by: "edgeclaw", max_model_len: m.contextSize })),
    }),
  );
  app.post("/v1/chat/completions", chatCompletions(deps));
  app.post("/v1/completions", completions(deps));
  app.post("/v1/embeddings", embeddings(deps));
  app.post("/tokenize", tokenize(deps));
  app.post("/detokenize", detokenize(deps));
  app.route("/admin", adminRoutes(deps));

  app.notFound((c) => c.json(new ApiError(404, `No route for ${c.req.method} ${c.req.path}.`, "not_found").body, 404));
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(err.body, err.status, err.headers);
    // Anything else is our bug, not the client's: log it here, never send the stack.
    console.error("[gpu-backend] unhandled error:", err);
    return c.json(new ApiError(500, "Internal server error.", "internal_error").body, 500);
  });
  return app;
}
