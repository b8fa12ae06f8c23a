// Server configuration from the environment (and MODELS_CONFIG), validated once at start-up so a
// typo fails loudly instead of half-working.
import { readFile } from "node:fs/promises";
import { availableParallelism, homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_MODEL, defaultModelId } from "./models/source.ts";
import { isLoopbackHost } from "./net/loopback.ts";

const int = (min: number) => z.coerce.number().int().min(min);
const gpuLayers = z.union([z.number().int().min(0), z.enum(["auto", "max"])]);

const EnvSchema = z.object({
  PORT: int(0).max(65535).default(8000),
  HOST: z.string().min(1).default("127.0.0.1"),
  MODEL: z.string().min(1).optional(),
  MODEL_ID: z.string().regex(/^[\w.:\-/]+$/).optional(),
  MODELS_CONFIG: z.string().min(1).optional(),
  GPU: z.enum(["cuda", "cpu"]).default("cpu"),
  // One thread less than the cores: the HTTP event loop needs one too (on 2 cores, 4 threads crawl).
  THREADS: int(1).default(Math.max(1, availableParallelism() - 1)),
  SLOTS: int(1).max(256).default(4),
  QUEUE_LIMIT: int(0).default(64),
  CONTEXT_SIZE: int(64).default(4096),
  GPU_LAYERS: z.union([z.coerce.number().int().min(0), z.enum(["auto", "max"])]).default("auto"),
  ADMIN_TOKEN: z.string().min(16, "ADMIN_TOKEN must be at least 16 characters").optional(),
  // Bearer keys for /v1 and /metrics, comma-separated. Required on any non-loopback HOST (checked below).
  API_KEYS: z
    .string()
    .transform((s) => s.split(",").map((k) => k.trim()).filter((k) => k.length > 0))
    .pipe(z.array(z.string().min(16, "each API key must be at least 16 characters").regex(/^[\x21-\x7e]+$/, "API keys are printable ASCII without spaces")).max(64))
    .optional(),
  // Local files the admin API may load; hf: URIs are always allowed. Defaults to MODEL_CACHE_DIR.
  MODELS_DIR: z.string().min(1).optional(),
  // Serve the generated random-weight model when a download fails. Off unless asked for: a server
  // that reports ready on random weights must be a deliberate choice (npm start makes it).
  ALLOW_TINY_FALLBACK: z.enum(["0", "1", "true", "false"]).default("0").transform((v) => v === "1" || v === "true"),
  MAX_BODY_BYTES: int(1024).default(4 * 1024 * 1024),
  HF_ENDPOINT: z.url().optional(),
  DOWNLOAD_STALL_SECONDS: int(1).default(30),
  MODEL_CACHE_DIR: z.string().min(1).default(join(homedir(), ".cache", "edgeclaw", "models")),
  // OpenTelemetry's standard variables for span export (src/tracing/). No endpoint, no export.
  OTEL_SDK_DISABLED: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  // Only OTLP/HTTP with JSON bodies is spoken: a collector set up for gRPC or protobuf would
  // refuse every export, so say so at start-up instead.
  OTEL_EXPORTER_OTLP_PROTOCOL: z.literal("http/json", { message: "only http/json is supported" }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z.literal("http/json", { message: "only http/json is supported" }).optional(),
  OTEL_EXPORTER_OTLP_HEADERS: z.string().max(8192).optional(),
  OTEL_EXPORTER_OTLP_TIMEOUT: int(1).max(60_000).default(10_000),
  OTEL_SERVICE_NAME: z.string().min(1).max(256).default("edgeclaw-gpu-backend"),
  OTEL_BSP_SCHEDULE_DELAY: int(1).max(60_000).default(5000),
  OTEL_BSP_MAX_QUEUE_SIZE: int(1).max(1_000_000).default(2048),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: int(1).max(100_000).default(512),
});

const ModelsFileSchema = z.object({
  models: z
    .array(
      z.object({
        id: z.string().regex(/^[\w.:\-/]+$/),
        path: z.string().min(1),
        contextSize: z.number().int().min(64).optional(),
        slots: z.number().int().min(1).max(256).optional(),
        gpuLayers: gpuLayers.optional(),
      }),
    )
    .min(1),
});

export type ModelSource = { id: string; source: string; contextSize?: number; slots?: number; gpuLayers?: number | "auto" | "max" };

export type ServerConfig = Omit<z.infer<typeof EnvSchema>, "API_KEYS" | "MODELS_DIR"> & { API_KEYS: string[]; MODELS_DIR: string; models: ModelSource[] };

export class ConfigError extends Error {}

function explain(error: z.ZodError, where: string): string {
  return error.issues.map((i) => `${where}${i.path.length ? ` ${i.path.join(".")}` : ""}: ${i.message}`).join("; ");
}

export async function loadConfig(env: NodeJS.ProcessEnv = process.env): Promise<ServerConfig> {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(explain(parsed.error, "environment"));
  const { API_KEYS = [], MODELS_DIR, ...cfg } = parsed.data;
  // Listening beyond this machine without keys would hand the GPU (and the load metrics) to anyone
  // who can reach the port: refuse to start rather than run open.
  if (API_KEYS.length === 0 && !isLoopbackHost(cfg.HOST)) {
    throw new ConfigError(`HOST=${cfg.HOST} is not a loopback address: set API_KEYS (comma-separated bearer keys, each at least 16 characters) before listening beyond this machine.`);
  }
  let models: ModelSource[];
  if (cfg.MODELS_CONFIG) {
    const text = await readFile(cfg.MODELS_CONFIG, "utf8").catch(() => { throw new ConfigError(`MODELS_CONFIG: cannot read ${cfg.MODELS_CONFIG}`); });
    let json: unknown;
    try { json = JSON.parse(text); } catch { throw new ConfigError(`MODELS_CONFIG: ${cfg.MODELS_CONFIG} is not valid JSON`); }
    const file = ModelsFileSchema.safeParse(json);
    if (!file.success) throw new ConfigError(explain(file.error, "MODELS_CONFIG"));
    const base = dirname(cfg.MODELS_CONFIG);
    models = file.data.models.map(({ path, ...m }) => ({ ...m, source: path.startsWith("hf:") ? path : resolve(base, path) }));
  } else {
    const source = cfg.MODEL ?? DEFAULT_MODEL;
    models = [{ id: cfg.MODEL_ID ?? defaultModelId(source), source }];
  }
  return { ...cfg, API_KEYS, MODELS_DIR: resolve(MODELS_DIR ?? cfg.MODEL_CACHE_DIR), models };
}
