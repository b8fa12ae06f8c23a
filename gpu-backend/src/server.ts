// Server lifecycle: listen first (so /health answers and /health/ready says 503 while models load),
// then load the configured models. A model that fails to load is reported and skipped, so one bad
// file does not take the others down (main.ts exits when none loaded).
import { serve } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { createApp } from "./app.ts";
import type { ServerConfig } from "./config.ts";
import { createLlama } from "./engine/llama.ts";
import { ModelRegistry } from "./engine/registry.ts";
import { Metrics } from "./metrics.ts";
import { allowedSource } from "./models/allowed-source.ts";
import { resolveModelSource, TINY_MODEL_ID } from "./models/source.ts";
import { createExporter } from "./tracing/setup.ts";

export type RunningServer = { url: string; registry: ModelRegistry; metrics: Metrics; loaded: Promise<string[]>; close: () => Promise<void> };

export async function startServer(cfg: ServerConfig): Promise<RunningServer> {
  const metrics = new Metrics();
  // Before llama.cpp starts: a malformed OTEL_EXPORTER_OTLP_HEADERS fails start-up at once.
  const spans = createExporter(cfg, metrics.traceSpans);
  const llama = await createLlama(cfg.GPU, cfg.THREADS);
  const registry = new ModelRegistry(llama, { contextSize: cfg.CONTEXT_SIZE, slots: cfg.SLOTS, queueLimit: cfg.QUEUE_LIMIT, threads: cfg.THREADS });
  const sourceOptions = { hubEndpoint: cfg.HF_ENDPOINT, stallMs: cfg.DOWNLOAD_STALL_SECONDS * 1000 };
  const app = createApp({
    llama,
    registry,
    metrics,
    adminToken: cfg.ADMIN_TOKEN,
    apiKeys: cfg.API_KEYS,
    maxBodyBytes: cfg.MAX_BODY_BYTES,
    spans,
    // Admin-supplied sources are confined to hf: URIs and MODELS_DIR; a failed download is an error, never the tiny model.
    resolveSource: async (source) => {
      const r = await resolveModelSource(await allowedSource(source, cfg.MODELS_DIR), cfg.MODEL_CACHE_DIR, { ...sourceOptions, fallBackToTiny: false });
      return r.path;
    },
  });
  const server = serve({ fetch: app.fetch, port: cfg.PORT, hostname: cfg.HOST });
  // Idle keep-alive connections are closed by the client first, never by us: with Node's default
  // 5 s a busy client could send a request on a socket at the moment we closed it, and the request
  // failed with a connection error (seen in the hot-swap test on a loaded machine). Routers keep
  // connections warm for about a minute; headersTimeout must exceed keepAliveTimeout.
  const http = server as unknown as { keepAliveTimeout: number; headersTimeout: number; closeIdleConnections: () => void };
  http.keepAliveTimeout = 65_000;
  http.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${cfg.HOST.includes(":") ? `[${cfg.HOST}]` : cfg.HOST}:${port}`;

  const loaded = (async () => {
    const ids: string[] = [];
    for (const m of cfg.models) {
      try {
        const { path, fellBack } = await resolveModelSource(m.source, cfg.MODEL_CACHE_DIR, { ...sourceOptions, fallBackToTiny: cfg.ALLOW_TINY_FALLBACK });
        // Random weights under a real model's name (or the operator's MODEL_ID) would mislead clients.
        const id = fellBack ? TINY_MODEL_ID : m.id;
        await registry.load({ id, path, contextSize: m.contextSize, slots: m.slots, gpuLayers: m.gpuLayers ?? cfg.GPU_LAYERS });
        ids.push(id);
        console.error(`[gpu-backend] model ${id} ready (${path})`);
      } catch (e) {
        console.error(`[gpu-backend] model ${m.id} NOT loaded: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return ids;
  })();

  const close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // close() drops the connections idle at that moment; one still answering a request would then
    // idle for keepAliveTimeout. Drop each as soon as it goes idle, so in-flight requests finish
    // and shutdown does not wait a minute for a client's pooled socket.
    const sweep = setInterval(() => http.closeIdleConnections(), 100);
    await closed;
    clearInterval(sweep);
    await loaded;
    await registry.close();
    // Last: the spans of the requests that just finished go out before the process ends.
    await spans?.shutdown();
    await llama.dispose();
  };
  return { url, registry, metrics, loaded, close };
}
