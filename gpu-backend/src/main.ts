// Entry point: `npm run -w gpu-backend start`. Configuration is environment only (see README).
import { ConfigError, loadConfig } from "./config.ts";
import { GpuUnavailableError } from "./engine/llama.ts";
import { startServer } from "./server.ts";

try {
  const cfg = await loadConfig();
  const server = await startServer(cfg);
  console.error(`[gpu-backend] listening on ${server.url} (GPU=${cfg.GPU}, THREADS=${cfg.THREADS}, SLOTS=${cfg.SLOTS}, QUEUE_LIMIT=${cfg.QUEUE_LIMIT})`);
  if (cfg.API_KEYS.length === 0) console.error("[gpu-backend] API_KEYS is not set: /v1 and /metrics are open to anyone who can reach this loopback address");
  const ids = await server.loaded;
  if (ids.length === 0) {
    console.error("[gpu-backend] no model could be loaded; exiting");
    await server.close();
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130); // a second Ctrl-C does not wait
    stopping = true;
    console.error(`[gpu-backend] ${signal}: finishing in-flight requests, then exiting`);
    void server.close().then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
} catch (e) {
  if (e instanceof ConfigError || e instanceof GpuUnavailableError) {
    console.error(`[gpu-backend] ${e.message}`);
    process.exit(1);
  }
  throw e;
}
