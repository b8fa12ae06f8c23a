// The span exporter from OpenTelemetry's standard environment variables (validated in config.ts).
import { ConfigError, type ServerConfig } from "../config.ts";
import { OtlpExporter } from "./otlp-exporter.ts";

/** OTEL_EXPORTER_OTLP_HEADERS: `key=value` pairs, comma-separated, values percent-encoded. */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (!raw) return headers;
  for (const pair of raw.split(",")) {
    if (!pair.trim()) continue;
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq).trim() : "";
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      value = "\n"; // refused below
    }
    // Names as HTTP tokens, values printable: fetch would throw on anything else, at every export.
    // (The values are credentials more often than not, so they never appear in the message.)
    if (!key || !isToken(key) || !isPrintable(value)) throw new ConfigError(`OTEL_EXPORTER_OTLP_HEADERS: entry ${key ? `'${key}'` : "without a name"} is not a valid header (key=value, comma-separated, values percent-encoded)`);
    headers[key] = value;
  }
  return headers;
}

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const isToken = (s: string) => [...s].every((ch) => TOKEN_CHARS.includes(ch));
const isPrintable = (s: string) => [...s].every((ch) => ch === "\t" || (ch >= " " && ch !== "\x7f"));

/** The traces URL: the signal's own endpoint as given, or the base endpoint + /v1/traces. */
export function tracesUrl(cfg: Pick<ServerConfig, "OTEL_EXPORTER_OTLP_ENDPOINT" | "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT">): string | undefined {
  if (cfg.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return cfg.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = cfg.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!base) return undefined;
  return `${base.endsWith("/") ? base.slice(0, -1) : base}/v1/traces`;
}

/** An exporter when an endpoint is configured (and the SDK not disabled); undefined means no tracing at all. */
export function createExporter(cfg: ServerConfig, counts: { exported: number; dropped: number }): OtlpExporter | undefined {
  const url = tracesUrl(cfg);
  if (!url || cfg.OTEL_SDK_DISABLED) return undefined;
  return new OtlpExporter({
    url,
    headers: parseOtlpHeaders(cfg.OTEL_EXPORTER_OTLP_HEADERS),
    resource: { "service.name": cfg.OTEL_SERVICE_NAME, "process.pid": process.pid },
    maxQueueSize: cfg.OTEL_BSP_MAX_QUEUE_SIZE,
    maxBatchSize: Math.min(cfg.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, cfg.OTEL_BSP_MAX_QUEUE_SIZE),
    scheduleDelayMs: cfg.OTEL_BSP_SCHEDULE_DELAY,
    timeoutMs: cfg.OTEL_EXPORTER_OTLP_TIMEOUT,
    counts,
  });
}
