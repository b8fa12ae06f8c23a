import type { Llama } from "node-llama-cpp";
import type { ModelRegistry } from "../engine/registry.ts";
import type { Metrics } from "../metrics.ts";
import type { OtlpExporter } from "../tracing/otlp-exporter.ts";

/** What the HTTP layer needs from the running server. */
export type Deps = {
  llama: Llama;
  registry: ModelRegistry;
  metrics: Metrics;
  adminToken?: string;
  /** Bearer keys for /v1 and /metrics; empty only on a loopback HOST (config.ts refuses otherwise). */
  apiKeys: readonly string[];
  maxBodyBytes: number;
  /** Where /v1 request spans go; undefined: no tracing (no OTLP endpoint configured). */
  spans?: OtlpExporter;
  /** Turns an admin-supplied model source (path or hf: URI) into a local file. */
  resolveSource: (source: string) => Promise<string>;
};
