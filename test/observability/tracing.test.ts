// W3C trace context through the gateway, against the real Worker and the fake upstream (which
// records the traceparent it got and is also the OTLP receiver the exporter is pointed at):
// the client's trace is continued, every upstream call carries it, the answer says which span
// was the gateway's, one trace per request reaches the collector with its spans correctly
// parented, and a malformed traceparent is replaced, never echoed.
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { uid } from "../gateway/helpers.ts";
import { makeTenant, type TestTenant } from "../gateway/helpers.ts";
import type { ReceivedSpan } from "../fakes/otlp-receiver.ts";
import { direct, MALFORMED, PARENT, parts, receivedTrace, TRACE, upstreamTraceparent } from "./helpers.ts";

let tenant: TestTenant;
const EXPORT = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: env.FAKE_UPSTREAM_URL, OTEL_SERVICE_NAME: "edgeclaw-test" });

beforeAll(async () => {
  tenant = await makeTenant();
});

afterEach(() => {
  vi.restoreAllMocks();
});

function chatInit(body: Record<string, unknown>, headers: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ model: "fake-echo", messages: [{ role: "user", content: "trace me" }], ...body }),
  };
}

function byName(spans: ReceivedSpan[], name: string): ReceivedSpan[] {
  return spans.filter((s) => s.name === name);
}

function one(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = byName(spans, name);
  expect(found, `exactly one ${name} span`).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

describe("traceparent from a client", () => {
  it("continues the client's trace: the answer, the upstream call and the exported spans share its trace id, parented under its span", async () => {
    const requestId = uid("req-trace");
    const clientParent = "00f067aa0ba902b7";
    const res = await direct("/v1/chat/completions", chatInit({}, { traceparent: `00-${TRACE}-${clientParent}-01`, "x-request-id": requestId }), EXPORT());
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe(requestId);

    const answered = parts(res.headers.get("traceparent"));
    expect(answered.traceId).toBe(TRACE);
    expect(answered.flags).toBe("01");
    expect(answered.spanId).not.toBe(clientParent);

    const upstream = parts(await upstreamTraceparent(requestId));
    expect(upstream.traceId).toBe(TRACE);

    const trace = await receivedTrace(TRACE);
    expect(trace.exports).toBe(1);
    const spans = trace.spans;
    expect(spans.every((s) => s.traceId === TRACE && s.service === "edgeclaw-test")).toBe(true);
    const root = one(spans, "gateway.request");
    const auth = one(spans, "gateway.auth");
    const route = one(spans, "gateway.route");
    const attempt = one(spans, "gateway.upstream");
    // The tree: client span > gateway.request > {gateway.auth, gateway.route > gateway.upstream}.
    expect(root.parentSpanId).toBe(clientParent);
    expect(root.spanId).toBe(answered.spanId);
    expect(root.kind).toBe(2);
    expect(auth.parentSpanId).toBe(root.spanId);
    expect(route.parentSpanId).toBe(root.spanId);
    expect(attempt.parentSpanId).toBe(route.spanId);
    expect(attempt.kind).toBe(3);
    // The upstream's parent is the attempt's span: the gpu-backend's spans hang under it.
    expect(upstream.spanId).toBe(attempt.spanId);
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);

    expect(root.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/v1/chat/completions",
      "http.response.status_code": 200,
      "edgeclaw.request_id": requestId,
      "edgeclaw.tenant_id": tenant.tenantId,
    });
    expect(auth.attributes["edgeclaw.auth.key_found"]).toBe(true);
    expect(route.attributes).toMatchObject({ "edgeclaw.model": "fake-echo", "edgeclaw.attempts": 1, "edgeclaw.target": expect.any(String) });
    expect(attempt.attributes).toMatchObject({ "gen_ai.request.model": "fake-echo", "edgeclaw.stream": false, "server.address": new URL(env.FAKE_UPSTREAM_URL).host });
    for (const s of spans) {
      expect(s.status.code ?? 0).toBe(0);
      expect(BigInt(s.startTimeUnixNano) >= BigInt(root.startTimeUnixNano)).toBe(true);
      expect(BigInt(s.endTimeUnixNano) <= BigInt(root.endTimeUnixNano)).toBe(true);
    }
    // The upstream's parent is the attempt's span, not the gateway's root.
    expect(upstream.spanId).toBe(attempt.spanId);
    expect(upstream.spanId).not.toBe(answered.spanId);
  });

  it("without an exporter no span tree is kept: the trace still continues, and the upstream's parent is the gateway's own span", async () => {
    const requestId = uid("req-unexported");
    const traceId = crypto.randomUUID().replaceAll("-", "");
    const res = await direct("/v1/chat/completions", chatInit({}, { traceparent: `00-${traceId}-${PARENT}-01`, "x-request-id": requestId }));
    expect(res.status).toBe(200);
    const answered = parts(res.headers.get("traceparent"));
    expect(answered).toMatchObject({ traceId, flags: "01" });
    // No attempt span was made (nothing would read it): the call carries the request's span.
    expect(parts(await upstreamTraceparent(requestId))).toEqual({ traceId, spanId: answered.spanId, flags: "01" });
    expect((await receivedTrace(traceId)).exports).toBe(0);
  });

  it("a stream's relay is a span of the same trace, and the trace is exported once the stream ended", async () => {
    const requestId = uid("req-stream");
    const traceId = crypto.randomUUID().replaceAll("-", "");
    const res = await direct("/v1/chat/completions", chatInit({ stream: true }, { traceparent: `00-${traceId}-${PARENT}-01`, "x-request-id": requestId }), EXPORT());
    expect(res.status).toBe(200);
    expect(res.text).toContain("data: [DONE]");
    expect(parts(res.headers.get("traceparent")).traceId).toBe(traceId);
    expect(parts(await upstreamTraceparent(requestId)).traceId).toBe(traceId);

    const trace = await receivedTrace(traceId);
    expect(trace.exports).toBe(1);
    const root = one(trace.spans, "gateway.request");
    const attempt = one(trace.spans, "gateway.upstream");
    const relay = one(trace.spans, "gateway.stream_relay");
    expect(attempt.attributes["edgeclaw.stream"]).toBe(true);
    expect(relay.parentSpanId).toBe(root.spanId);
    expect(relay.attributes["edgeclaw.stream.completed"]).toBe(true);
    // The request's span covers the whole stream, not only the handler.
    expect(BigInt(root.endTimeUnixNano) >= BigInt(relay.endTimeUnixNano)).toBe(true);
  });

  it("a failing upstream attempt is an error span with its class, and the trace still arrives", async () => {
    const traceId = crypto.randomUUID().replaceAll("-", "");
    const res = await direct("/v1/chat/completions", chatInit({ model: "fake-status-500" }, { traceparent: `00-${traceId}-${PARENT}-01` }), EXPORT());
    expect(res.status).toBe(502);
    const trace = await receivedTrace(traceId);
    expect(trace.exports).toBe(1);
    const attempts = byName(trace.spans, "gateway.upstream");
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    for (const a of attempts) {
      expect(a.status.code).toBe(2);
      expect(a.attributes["error.type"]).toBe("server_error");
    }
    const root = one(trace.spans, "gateway.request");
    expect(root.attributes["http.response.status_code"]).toBe(502);
    expect(root.status.code).toBe(2);
  });

  it("an unsampled parent (flags 00) is continued and propagated as unsampled, and nothing is exported", async () => {
    const requestId = uid("req-unsampled");
    const traceId = crypto.randomUUID().replaceAll("-", "");
    const res = await direct("/v1/chat/completions", chatInit({}, { traceparent: `00-${traceId}-${PARENT}-00`, "x-request-id": requestId }), EXPORT());
    expect(res.status).toBe(200);
    expect(parts(res.headers.get("traceparent"))).toMatchObject({ traceId, flags: "00" });
    expect(parts(await upstreamTraceparent(requestId))).toMatchObject({ traceId, flags: "00" });
    expect((await receivedTrace(traceId)).exports).toBe(0);
  });

  it("without a traceparent the gateway starts a sampled trace and propagates it", async () => {
    const requestId = uid("req-new");
    const res = await direct("/v1/chat/completions", chatInit({}, { "x-request-id": requestId }), EXPORT());
    expect(res.status).toBe(200);
    const answered = parts(res.headers.get("traceparent"));
    expect(answered.flags).toBe("01");
    expect(parts(await upstreamTraceparent(requestId)).traceId).toBe(answered.traceId);
    const trace = await receivedTrace(answered.traceId);
    expect(trace.exports).toBe(1);
    expect(one(trace.spans, "gateway.request").parentSpanId).toBeNull();
  });

  for (const [name, bad] of Object.entries(MALFORMED)) {
    it(`a malformed traceparent (${name}) is replaced, never echoed or passed upstream`, async () => {
      const requestId = uid("req-bad");
      const res = await direct("/v1/chat/completions", chatInit({}, { traceparent: bad, "x-request-id": requestId }));
      expect(res.status).toBe(200);
      const answered = res.headers.get("traceparent");
      const sent = await upstreamTraceparent(requestId);
      for (const value of [answered, sent]) {
        const p = parts(value);
        expect(value).not.toBe(bad);
        // Not the client's ids, in any case: a fresh trace.
        expect(p.traceId).not.toBe(TRACE);
        expect(bad.toLowerCase()).not.toContain(p.traceId);
        expect(p.flags).toBe("01");
      }
      expect(parts(sent).traceId).toBe(parts(answered).traceId);
    });
  }

  it("every answer carries one, errors and unknown paths included", async () => {
    const health = await direct("/health", { method: "GET" });
    parts(health.headers.get("traceparent"));
    const missing = await direct("/no/such/path", { method: "GET" });
    expect(missing.status).toBe(404);
    parts(missing.headers.get("traceparent"));
    const unauth = await direct("/v1/chat/completions", { method: "POST", headers: { traceparent: `00-${TRACE}-${PARENT}-01` }, body: "{}" });
    expect(unauth.status).toBe(401);
    expect(parts(unauth.headers.get("traceparent")).traceId).toBe(TRACE);
  });
});

describe("request log line", () => {
  it("writes one JSON line per request with its ids, tenant, route, status, latency and tokens", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    const requestId = uid("req-log");
    const res = await direct("/v1/chat/completions", chatInit({}, { "x-request-id": requestId }));
    expect(res.status).toBe(200);
    // Written just after the answer left (http/after-response.ts), not before it.
    const mineOf = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request" && l.request_id === requestId);
    await vi.waitFor(() => expect(mineOf()).toHaveLength(1));
    const mine = mineOf();
    const line = mine[0] as Record<string, unknown>;
    expect(line).toMatchObject({
      trace_id: parts(res.headers.get("traceparent")).traceId,
      span_id: parts(res.headers.get("traceparent")).spanId,
      tenant_id: tenant.tenantId,
      method: "POST",
      route: "/v1/chat/completions",
      status: 200,
    });
    expect(line.latency_ms).toEqual(expect.any(Number));
    expect(line.tokens_in).toEqual(expect.any(Number));
    expect(line.tokens_out).toEqual(expect.any(Number));
    // Never the key or the body.
    expect(JSON.stringify(line)).not.toContain(tenant.key);
    expect(JSON.stringify(line)).not.toContain("trace me");
  });

  it("a stream's line comes when the stream ended, with how it ended", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    const requestId = uid("req-log-stream");
    const res = await direct("/v1/chat/completions", chatInit({ stream: true, stream_options: { include_usage: true } }, { "x-request-id": requestId }));
    expect(res.status).toBe(200);
    const mine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request" && l.request_id === requestId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ stream: "completed", status: 200, tenant_id: tenant.tenantId, tokens_out: expect.any(Number) });
  });
});
