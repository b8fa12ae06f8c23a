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

// The one structured log line per agent turn (a session Durable Object's alarm runs it; there is
// no HTTP request). The session is named by a random pseudonym kept in the session's own storage
// (erased with it), never by its key, which embeds the peer or group id.
export interface TurnLog {
  turnId: string;
  traceId: string;
  spanId: string;
  // ses_<hex>: the session's log pseudonym.
  session: string;
  tenantId: string;
  agentId: string;
  channel: string;
  // How the turn ended (TurnStatus in workers/agents/session-turn.ts).
  status: string;
  // The model call's error code, when it failed.
  error: string | null;
  // Messages answered together in this turn, and which attempt at them it was.
  messages: number;
  attempt: number;
  latencyMs: number;
  tokens: { input: number; output: number } | null;
}

export function turnLogLine(t: TurnLog): string {
  return JSON.stringify({
    msg: "turn",
    turn_id: t.turnId,
    trace_id: t.traceId,
    span_id: t.spanId,
    session: t.session,
    tenant_id: t.tenantId,
    agent_id: t.agentId,
    channel: t.channel,
    status: t.status,
    ...(t.error ? { error: t.error } : {}),
    messages: t.messages,
    attempt: t.attempt,
    latency_ms: t.latencyMs,
    ...(t.tokens ? { tokens_in: t.tokens.input, tokens_out: t.tokens.output } : {}),
  });
}
