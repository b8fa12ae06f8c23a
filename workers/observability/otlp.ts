// OTLP/HTTP JSON trace exporter (https://opentelemetry.io/docs/specs/otlp/#otlphttp): one POST of
// one trace's spans per request, in the request's waitUntil, so the answer never waits for it and
// an exporter failure (refused, down, slow) never fails a request: it is counted and dropped.
// Configured by the standard variables:
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  full URL of the traces endpoint (used as it is), or
//   OTEL_EXPORTER_OTLP_ENDPOINT         base URL; /v1/traces is appended
//   OTEL_EXPORTER_OTLP_HEADERS          "name=value,name2=value2" (a collector's API key: a secret)
//   OTEL_SERVICE_NAME                   service.name (default edgeclaw-gateway)
//   OTEL_EXPORTER_OTLP_TIMEOUT          ms before an export is abandoned (default 5000)
// Neither endpoint set: nothing is exported. The endpoint passes the outbound-URL policy like any
// other URL the Worker fetches (workers/security/outbound-url.ts); a refused one exports nothing.
import type { Env } from "../env.ts";
import { checkOutboundUrl } from "../security/outbound-url.ts";
import { activeSpan, errorText, runInSpan, Trace, withSpan, type AttributeValue, type Span, type SpanKind, type SpanRecord } from "./trace.ts";

export interface OtlpEnv {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_HEADERS?: string;
  OTEL_EXPORTER_OTLP_TIMEOUT?: string;
  OTEL_SERVICE_NAME?: string;
  REGION?: string;
}

// Exports in flight at once per isolate: beyond it a trace is dropped, not queued, so a collector
// that hangs cannot pile up memory (each export holds one trace, at most MAX_SPANS_PER_TRACE spans).
export const MAX_EXPORTS_IN_FLIGHT = 32;
const MAX_HEADERS = 16;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

let inFlight = 0;
// Per isolate: what became of the traces handed to the exporter (for a debugger or a test; isolates
// are short-lived, so these are no metric).
export const exportStats = { sent: 0, failed: 0, dropped: 0, refused: 0 };

interface Target {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  service: string;
}

let memo: { key: string; target: Target | null } | null = null;

// The export target for this env, or null when none is configured or the policy refuses it.
export function exportTarget(env: Env): Target | null {
  const o = env as Env & OtlpEnv;
  const traces = o.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = o.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!traces && !base) return null;
  const key = [traces, base, o.OTEL_EXPORTER_OTLP_HEADERS, o.OTEL_EXPORTER_OTLP_TIMEOUT, o.OTEL_SERVICE_NAME, env.OUTBOUND_ALLOW_HOSTS].join("\n");
  if (memo?.key === key) return memo.target;
  const url = traces || `${withoutTrailingSlashes(base as string)}/v1/traces`;
  const verdict = checkOutboundUrl(env, url);
  const timeout = Number(o.OTEL_EXPORTER_OTLP_TIMEOUT);
  const target = verdict.ok
    ? {
        url,
        headers: parseHeaders(o.OTEL_EXPORTER_OTLP_HEADERS),
        timeoutMs: Number.isFinite(timeout) && timeout > 0 ? Math.min(timeout, 30_000) : 5_000,
        service: o.OTEL_SERVICE_NAME?.trim().slice(0, 128) || "edgeclaw-gateway",
      }
    : null;
  if (!verdict.ok) {
    // Once per isolate and setting, not per request; the reason names the host, never a header.
    console.warn(JSON.stringify({ msg: "otlp exporter disabled", reason: `endpoint refused by the outbound-URL policy: ${verdict.reason}` }));
  }
  memo = { key, target };
  return target;
}

function withoutTrailingSlashes(url: string): string {
  let end = url.length;
  while (end > 0 && url[end - 1] === "/") end--;
  return url.slice(0, end);
}

// The OTEL_EXPORTER_OTLP_HEADERS list (W3C Baggage-like: comma-separated name=value, values
// percent-encoded). Malformed entries are skipped.
export function parseHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(",").slice(0, MAX_HEADERS)) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!HEADER_NAME.test(name)) continue;
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      continue;
    }
    if (value.length > 4096 || /[\r\n]/.test(value)) continue;
    out[name.toLowerCase()] = value;
  }
  return out;
}

// Hands the trace to the collector in the background. Unsampled traces and traces without a
// configured endpoint cost nothing but this check.
export function exportTrace(env: Env, trace: Trace, waitUntil: (p: Promise<unknown>) => void): void {
  if (!trace.recording || trace.spans.length === 0) return;
  const target = exportTarget(env);
  if (!target) {
    if ((env as Env & OtlpEnv).OTEL_EXPORTER_OTLP_ENDPOINT || (env as Env & OtlpEnv).OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) exportStats.refused++;
    return;
  }
  if (inFlight >= MAX_EXPORTS_IN_FLIGHT) {
    exportStats.dropped++;
    return;
  }
  inFlight++;
  const region = (env as Env & OtlpEnv).REGION;
  // A background span (a cache write) may still be open: the export waits for it, bounded.
  waitUntil(
    trace
      .whenBackgroundDone()
      .then(() => send(target, JSON.stringify(otlpBody(trace.spans, target.service, region))))
      .finally(() => {
        inFlight--;
      }),
  );
}

async function send(target: Target, body: string): Promise<void> {
  try {
    const res = await fetch(target.url, {
      method: "POST",
      headers: { ...target.headers, "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(target.timeoutMs),
      redirect: "manual",
    });
    await res.body?.cancel().catch(() => {});
    if (res.ok) exportStats.sent++;
    else exportStats.failed++;
  } catch {
    exportStats.failed++;
  }
}

const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3, consumer: 5 };

// ExportTraceServiceRequest in OTLP's JSON encoding: ids as lowercase hex, times as decimal
// strings of Unix nanoseconds, enums as numbers.
export function otlpBody(spans: SpanRecord[], service: string, region?: string) {
  const resource = [attr("service.name", service), attr("telemetry.sdk.name", "edgeclaw"), attr("telemetry.sdk.language", "js")];
  if (region) resource.push(attr("cloud.region", region));
  return {
    resourceSpans: [
      {
        resource: { attributes: resource },
        scopeSpans: [
          {
            scope: { name: "edgeclaw.gateway" },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: KIND[s.kind],
              startTimeUnixNano: nanos(s.startMs),
              endTimeUnixNano: nanos(Math.max(s.endMs, s.startMs)),
              attributes: Object.entries(s.attributes).map(([k, v]) => attr(k, v)),
              status: s.error === null ? { code: 0 } : { code: 2, message: s.error },
            })),
          },
        ],
      },
    ],
  };
}

function nanos(ms: number): string {
  return `${Math.round(ms)}000000`;
}

function attr(key: string, value: AttributeValue) {
  if (typeof value === "boolean") return { key, value: { boolValue: value } };
  if (typeof value === "number") return { key, value: Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value } };
  return { key, value: { stringValue: value } };
}

// Work outside any request (a scheduler run in a Durable Object's alarm) as a trace of its own:
// one root span, exported when `work` ends. Inside a traced request it is a child span instead.
export async function tracedRoot<T>(
  env: Env,
  waitUntil: (p: Promise<unknown>) => void,
  name: string,
  kind: SpanKind,
  attributes: Record<string, AttributeValue>,
  work: (span: Span | null) => Promise<T>,
): Promise<T> {
  if (activeSpan()) return withSpan(name, kind, attributes, work);
  const trace = new Trace(null, exportTarget(env) !== null);
  const root = trace.start(name, kind, null, attributes);
  try {
    return await runInSpan(root, () => work(root));
  } catch (err) {
    root.fail(errorText(err));
    throw err;
  } finally {
    root.end();
    exportTrace(env, trace, waitUntil);
  }
}
