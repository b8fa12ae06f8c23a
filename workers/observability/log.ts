// The one structured log line per request (console.log of a JSON object: Workers Logs indexes its
// fields when `observability` is enabled in the Wrangler config). Only identifiers, numbers and
// the route pattern: never a header, a body, a query string or a key.
export interface RequestLog {
  requestId: string;
  traceId: string;
  spanId: string;
  tenantId: string | null;
  method: string;
  // The matched route pattern (/v1/chat/completions, /webhooks/:channel/:account), not the URL.
  route: string;
  status: number;
  // Until the answer was complete: for a stream, until its relay ended.
  latencyMs: number;
  tokens: { input: number; output: number } | null;
  stream: "completed" | "broken" | null;
}

export function requestLogLine(r: RequestLog): string {
  return JSON.stringify({
    msg: "request",
    request_id: r.requestId,
    trace_id: r.traceId,
    span_id: r.spanId,
    tenant_id: r.tenantId,
    method: r.method,
    route: r.route,
    status: r.status,
    latency_ms: r.latencyMs,
    ...(r.tokens ? { tokens_in: r.tokens.input, tokens_out: r.tokens.output } : {}),
    ...(r.stream ? { stream: r.stream } : {}),
  });
}
