// The limits and cache stages of a /v1 call as spans (workers/router/limits.ts, workers/api/pipeline.ts),
// against the real Worker, the real limiter and budget objects and the fake upstream, which is also
// the OTLP receiver: a miss stores its answer (a background span the export waits for), a hit
// skips the route, refusals say which limit refused, an unsampled trace records none of it, and no
// attribute holds the API key or its id.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { runInSpan, sampledChild, Trace } from "../../workers/observability/trace.ts";
import { newSpanId, newTraceId } from "../../workers/observability/traceparent.ts";
import type { ReceivedSpan } from "../fakes/otlp-receiver.ts";
import { uid } from "../gateway/helpers.ts";
import { makeRouterTenant, setConfig, target, type RouterTenant } from "../router/helpers.ts";
import { direct, receivedTrace } from "./helpers.ts";

let t: RouterTenant;
const EXPORT = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: env.FAKE_UPSTREAM_URL });

beforeAll(async () => {
  t = await makeRouterTenant();
});

// One request under a fresh sampled (or not) trace; returns its status and the trace id.
async function ask(model: string, body: Record<string, unknown> = {}, sampled = true): Promise<{ status: number; traceId: string; text: string }> {
  const traceId = newTraceId();
  const res = await direct(
    "/v1/chat/completions",
    {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json", traceparent: `00-${traceId}-${newSpanId()}-${sampled ? "01" : "00"}` },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "stages" }], temperature: 0, ...body }),
    },
    EXPORT(),
  );
  return { status: res.status, traceId, text: res.text };
}

async function spansOf(traceId: string): Promise<ReceivedSpan[]> {
  const got = await receivedTrace(traceId);
  expect(got.exports, "one export per trace").toBe(1);
  return got.spans;
}

function one(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found, `exactly one ${name} span`).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

function noSecrets(spans: ReceivedSpan[]): void {
  const text = JSON.stringify(spans);
  expect(text).not.toContain(t.key);
  expect(text).not.toContain(t.keyId);
  expect(text).not.toContain("stages"); // the prompt
}

describe("limits and cache spans", () => {
  it("a miss: limits, cache lookup (MISS), route and the cache write; then a hit: limits and cache (HIT), no route", { timeout: 30_000 }, async () => {
    // (direct() waits for the request's waitUntil, which holds the limit leases' 5 s return timer.)
    const name = uid("cached");
    await setConfig(t, {
      routes: { [name]: { tree: target("fake-echo"), cache: { ttl_s: 60 } } },
      keys: { [t.keyId]: { limits: { requests_per_min: 1000 } } },
      budgets: { tenant: { daily_usd: 1000 } },
    });

    const miss = await ask(name);
    expect(miss.status).toBe(200);
    const spans = await spansOf(miss.traceId);
    const root = one(spans, "gateway.request");
    const limits = one(spans, "gateway.limits");
    const cache = one(spans, "gateway.cache");
    const stored = one(spans, "gateway.cache.store");
    one(spans, "gateway.route");
    for (const s of [limits, cache, stored]) {
      expect(s.parentSpanId).toBe(root.spanId);
      expect(s.kind).toBe(1);
      expect(s.status.code ?? 0).toBe(0);
    }
    expect(limits.attributes).toMatchObject({ "edgeclaw.limits.rate_limits": "key", "edgeclaw.limits.budgets": "tenant" });
    expect(limits.attributes["edgeclaw.limits.reserved_tokens"]).toBeGreaterThan(0);
    expect(limits.attributes["edgeclaw.limits.reserved_usd"]).toBeTypeOf("number");
    expect(cache.attributes).toMatchObject({ "edgeclaw.cache.status": "MISS", "edgeclaw.cache.ttl_s": 60 });
    expect(cache.attributes["edgeclaw.cache.shared"]).toBeTypeOf("boolean");
    expect(stored.attributes).toMatchObject({ "edgeclaw.cache.bytes": miss.text.length, "edgeclaw.cache.ttl_s": 60 });
    noSecrets(spans);

    const hit = await ask(name);
    expect(hit.status).toBe(200);
    const again = await spansOf(hit.traceId);
    expect(one(again, "gateway.cache").attributes["edgeclaw.cache.status"]).toBe("HIT");
    one(again, "gateway.limits");
    expect(again.filter((s) => s.name === "gateway.route" || s.name === "gateway.cache.store")).toHaveLength(0);
    noSecrets(again);
  });

  it("a streamed miss: the relay ends the request, the cache write after it is still in the one export", async () => {
    const name = uid("cached-sse");
    await setConfig(t, { routes: { [name]: { tree: target("fake-echo"), cache: { ttl_s: 60 } } } });
    const miss = await ask(name, { stream: true });
    expect(miss.status).toBe(200);
    const spans = await spansOf(miss.traceId);
    const relay = one(spans, "gateway.stream_relay");
    const stored = one(spans, "gateway.cache.store");
    expect(BigInt(stored.startTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(relay.startTimeUnixNano));
    expect(stored.attributes["edgeclaw.cache.bytes"]).toBe(miss.text.length);
    expect(one(spans, "gateway.limits").attributes).toMatchObject({ "edgeclaw.limits.rate_limits": "none", "edgeclaw.limits.budgets": "none" });
    expect(one(spans, "gateway.cache").attributes["edgeclaw.cache.status"]).toBe("MISS");
  });

  it("a bypassed cache is still a cache span (BYPASS), with no write", async () => {
    await setConfig(t, {});
    const res = await ask("fake-echo");
    expect(res.status).toBe(200);
    const spans = await spansOf(res.traceId);
    expect(one(spans, "gateway.cache").attributes).toMatchObject({ "edgeclaw.cache.status": "BYPASS", "edgeclaw.cache.shared": false, "edgeclaw.cache.ttl_s": 0 });
    expect(spans.filter((s) => s.name === "gateway.cache.store")).toHaveLength(0);
  });

  it("a rate-limit refusal: the limits span fails with the code, the limit and the scope; nothing is routed", async () => {
    await setConfig(t, { keys: { [t.keyId]: { limits: { tokens_per_min: 5 } } } });
    const res = await ask("fake-echo", { max_tokens: 100 });
    expect(res.status).toBe(429);
    const spans = await spansOf(res.traceId);
    const limits = one(spans, "gateway.limits");
    expect(limits.status).toMatchObject({ code: 2, message: "rate_limit_exceeded" });
    expect(limits.attributes).toMatchObject({ "edgeclaw.limits.refused": "tokens_per_min", "edgeclaw.limits.refused_scope": "key", "edgeclaw.limits.rate_limits": "key" });
    expect(spans.filter((s) => s.name === "gateway.route")).toHaveLength(0);
    noSecrets(spans);
  });

  it("a budget refusal names the budget's period and scope", async () => {
    await setConfig(t, {
      routes: { pricey: { tree: target("fake-echo", { input_price_per_mtok: 1_000_000, output_price_per_mtok: 1_000_000 }) } },
      budgets: { tenant: { daily_usd: 1 } },
    });
    const res = await ask("pricey", { max_tokens: 10 });
    expect(res.status).toBe(402);
    const limits = one(await spansOf(res.traceId), "gateway.limits");
    expect(limits.status).toMatchObject({ code: 2, message: "budget_exceeded" });
    expect(limits.attributes).toMatchObject({ "edgeclaw.limits.refused": "budget_daily", "edgeclaw.limits.refused_scope": "tenant", "edgeclaw.limits.budgets": "tenant" });
    await setConfig(t, {});
  });

  it("an unsampled trace makes no stage spans and exports nothing", async () => {
    const res = await ask("fake-echo", {}, false);
    expect(res.status).toBe(200);
    expect((await receivedTrace(res.traceId)).exports).toBe(0);

    const unsampled = new Trace({ traceId: newTraceId(), parentId: newSpanId(), flags: 0 });
    const sampled = new Trace(null);
    expect(runInSpan(unsampled.start("gateway.request", "server", null), () => sampledChild("gateway.limits", "internal"))).toBeNull();
    expect(runInSpan(sampled.start("gateway.request", "server", null), () => sampledChild("gateway.limits", "internal"))?.name).toBe("gateway.limits");
    expect(sampledChild("gateway.limits", "internal")).toBeNull();
  });
});
