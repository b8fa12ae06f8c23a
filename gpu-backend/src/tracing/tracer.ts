// Spans of /v1 requests: one SERVER span per request, a child of the caller's span when the request
// carries a valid W3C `traceparent` (a new trace otherwise), and INTERNAL children for the phases
// the engine exposes (prepare, queue_wait, prompt_eval, generation; embedding for /v1/embeddings).
// A caller that sent the sampled flag off gets no spans (parent-based sampling, as the SDK's default).
import type { Context, MiddlewareHandler } from "hono";
import { SpanKind, StatusCode, toUnixNanos, type Attributes, type OtlpExporter } from "./otlp-exporter.ts";
import { newSpanId, newTraceId, parseTraceparent } from "./traceparent.ts";

/** The /v1 routes, by path: the span name and http.route (anything else is named by method alone). */
const ROUTES = new Set(["/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/embeddings"]);

export class RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  /** Attributes of the SERVER span; routes add theirs (model, tokens, outcome). */
  readonly attributes: Attributes;
  private readonly exporter: OtlpExporter;
  private readonly name: string;
  private readonly startedAt: number;
  private error?: string;
  private holds = 0;
  private status?: number;
  private ended = false;

  constructor(exporter: OtlpExporter, parent: { traceId: string; spanId: string } | undefined, name: string, startedAt: number, attributes: Attributes) {
    this.exporter = exporter;
    this.traceId = parent?.traceId ?? newTraceId();
    this.parentSpanId = parent?.spanId;
    this.spanId = newSpanId();
    this.name = name;
    this.startedAt = startedAt;
    this.attributes = attributes;
  }

  /** Records a finished phase as a child of this request's span. Times are performance.now() values. */
  child(name: string, start: number, end: number, attributes: Attributes = {}, error?: string): void {
    this.exporter.add({
      traceId: this.traceId,
      spanId: newSpanId(),
      parentSpanId: this.spanId,
      name,
      kind: SpanKind.INTERNAL,
      startNs: toUnixNanos(start),
      endNs: toUnixNanos(Math.max(start, end)),
      attributes,
      status: error ? { code: StatusCode.ERROR, message: error } : undefined,
    });
  }

  /** Marks the request failed (a stream that failed after its 200 went out). */
  fail(message: string): void { this.error = message; }

  /**
   * Keeps the request's span open past the response: a stream's body is still generating when the
   * handler returns. Returns the release, called once the generation is over.
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.maybeEnd();
    };
  }

  /** The response is out (its headers at least). */
  responded(status: number): void {
    this.status = status;
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.ended || this.status === undefined || this.holds > 0) return;
    this.ended = true;
    const status = this.status;
    // HTTP server spans: 5xx is an error, 4xx is the client's (OpenTelemetry's HTTP conventions).
    const error = this.error ?? (status >= 500 ? `HTTP ${status}` : undefined);
    this.exporter.add({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      name: this.name,
      kind: SpanKind.SERVER,
      startNs: toUnixNanos(this.startedAt),
      endNs: toUnixNanos(performance.now()),
      attributes: { ...this.attributes, "http.response.status_code": status },
      status: error ? { code: StatusCode.ERROR, message: error } : undefined,
    });
  }
}

const traces = new WeakMap<Request, RequestTrace>();

/** The request's trace, when tracing is on and the request is sampled. */
export const traceOf = (c: Context): RequestTrace | undefined => traces.get(c.req.raw);

/** Starts a request's span before the handler runs and hands it the response status after. */
export function tracing(exporter: OtlpExporter): MiddlewareHandler {
  return async (c, next) => {
    const startedAt = performance.now();
    const parent = parseTraceparent(c.req.header("traceparent"));
    if (parent && !parent.sampled) return next();
    const path = c.req.path;
    const route = ROUTES.has(path) ? path : undefined;
    const trace = new RequestTrace(exporter, parent, route ? `${c.req.method} ${route}` : c.req.method, startedAt, {
      "http.request.method": c.req.method,
      "http.route": route,
      "url.path": path.slice(0, 256),
    });
    traces.set(c.req.raw, trace);
    await next();
    trace.responded(c.res.status);
  };
}
