// A platform API call made inside a traced request is a span of that request and carries its
// traceparent (workers/channels/platform-http.ts); outside one (a Durable Object's outbox) it
// carries none. The fake upstream stands in for the platform: it records the headers it got.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../workers/env.ts";
import { platformFetch } from "../../workers/channels/platform-http.ts";
import { runInSpan, Trace } from "../../workers/observability/trace.ts";
import { uid } from "../gateway/helpers.ts";
import { parts, upstreamTraceparent } from "./helpers.ts";

function send(requestId: string) {
  return platformFetch(env as unknown as Env, env.FAKE_UPSTREAM_URL, "https://unused.example", "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model: "fake-echo", messages: [{ role: "user", content: "hi" }] }),
  });
}

describe("platform calls and trace context", () => {
  it("inside a request: a channel.platform_call span whose id the platform gets as parent", async () => {
    const trace = new Trace(null);
    const root = trace.start("gateway.request", "server", null);
    const requestId = uid("req-platform");
    const call = await runInSpan(root, () => send(requestId));
    expect(call.ok).toBe(true);
    if (call.ok) await call.res.body?.cancel();
    root.end();

    const sent = parts(await upstreamTraceparent(requestId));
    expect(sent.traceId).toBe(trace.traceId);
    const span = trace.spans.find((s) => s.name === "channel.platform_call");
    expect(span).toBeDefined();
    expect(span).toMatchObject({ spanId: sent.spanId, parentSpanId: root.spanId, kind: "client", error: null });
    expect(span?.attributes).toMatchObject({ "http.request.method": "POST", "http.response.status_code": 200, "server.address": new URL(env.FAKE_UPSTREAM_URL).host });
  });

  it("outside a request: no traceparent", async () => {
    const requestId = uid("req-platform-bare");
    const call = await send(requestId);
    expect(call.ok).toBe(true);
    if (call.ok) await call.res.body?.cancel();
    expect(await upstreamTraceparent(requestId)).toBeNull();
  });
});
