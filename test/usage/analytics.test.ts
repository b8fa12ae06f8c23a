// Workers Analytics Engine writes. The local runtime (miniflare under the Workers Vitest plugin)
// does give the Worker a real USAGE_ANALYTICS binding from wrangler.jsonc, but its local simulator
// drops every data point (it forwards only to a remote dataset), so nothing written through it can
// be read back here. So: the real binding is checked to exist and to take our data points, and
// the data points themselves are checked through an injected dataset object handed to the real
// usage meter, which still sends its event through the real queue into D1.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../workers/env.ts";
import { ApiError } from "../../workers/http/errors.ts";
import { BLOBS, DOUBLES, usageDataPoint, writeUsageAnalytics } from "../../workers/usage/analytics.ts";
import { usageMeter } from "../../workers/usage/meter.ts";
import type { UsageEvent } from "../../workers/usage/event.ts";
import { uid } from "../gateway/helpers.ts";
import { drained, usageRowsFor } from "./helpers.ts";

class RecordingDataset implements AnalyticsEngineDataset {
  points: AnalyticsEngineDataPoint[] = [];
  writeDataPoint(point?: AnalyticsEngineDataPoint): void {
    this.points.push(structuredClone(point!));
  }
}

const named = (point: AnalyticsEngineDataPoint) => ({
  index: point.indexes?.[0],
  blob: Object.fromEntries(BLOBS.map((k, i) => [k, point.blobs?.[i]])),
  double: Object.fromEntries(DOUBLES.map((k, i) => [k, point.doubles?.[i]])),
});

function meter(dataset: AnalyticsEngineDataset, requestId: string, pending: Promise<unknown>[]) {
  const withDataset: Env = { ...(env as Env), USAGE_ANALYTICS: dataset, REGION: "eu" };
  return usageMeter({
    env: withDataset,
    waitUntil: (p) => pending.push(p),
    tenantId: "ten-analytics",
    keyId: "key-analytics",
    agentId: null,
    channel: null,
    route: "/v1/chat/completions",
    model: "house-model",
    requestId,
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  });
}

describe("usage data points for Workers Analytics Engine", () => {
  it("the local runtime binds USAGE_ANALYTICS from wrangler.jsonc, and it takes our data points", () => {
    const dataset = (env as Env).USAGE_ANALYTICS;
    expect(dataset).toBeDefined();
    expect(typeof dataset!.writeDataPoint).toBe("function");
    const event: UsageEvent = {
      v: 1, id: uid("evt"), at: Date.now(), tenant_id: "ten-x", key_id: null, agent_id: "agent-1", channel: "telegram", route: "agent_turn", model: "m",
      provider: null, upstream_model: null, target: null, replica: null, input_tokens: 0, output_tokens: 0, tokens_estimated: false, cost_micro_usd: 0,
      latency_ms: 1, ttft_ms: null, status: 504, error_class: "deadline_exceeded", cache: null, attempts: 0, fallbacks: [], request_id: "r", trace_id: null,
    };
    expect(() => writeUsageAnalytics(dataset, event, undefined)).not.toThrow();
  });

  it("one data point per metered call, written as the call ends; the queue event still lands in D1", async () => {
    const dataset = new RecordingDataset();
    const pending: Promise<unknown>[] = [];
    const requestId = uid("req-ae");
    const m = meter(dataset, requestId, pending);
    m.firstByte();
    expect(dataset.points).toEqual([]);
    m.finish({ status: 200, errorClass: null, usage: { promptTokens: 11, completionTokens: 3 }, estimated: false, prices: { input: 0.5, output: 1.5 }, cache: "MISS", servedBy: { provider: "fake", upstreamModel: "fake-echo", target: "primary", replica: null } });
    // A second finish adds nothing.
    m.finish({ status: 500, errorClass: "x", usage: null, estimated: false, prices: null, cache: null });
    // Written just after the answer (under waitUntil), not on its way.
    expect(dataset.points).toEqual([]);
    await drained(pending);
    expect(dataset.points).toHaveLength(1);
    const p = named(dataset.points[0]!);
    expect(p.index).toBe("ten-analytics");
    expect(p.blob).toEqual({
      tenant_id: "ten-analytics", route: "/v1/chat/completions", model: "house-model", provider: "fake", error_class: "", key_id: "key-analytics", agent_id: "",
      target: "primary", cache: "MISS", status: "200", region: "eu", channel: "", upstream_model: "fake-echo", replica: "", request_id: requestId,
      trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
    });
    expect(p.double).toMatchObject({ requests: 1, input_tokens: 11, output_tokens: 3, cost_micro_usd: 10, has_ttft: 1, status: 200, attempts: 0, tokens_estimated: 0, cache_hit: 0, error: 0 });
    expect(p.double.ttft_ms).toBeLessThanOrEqual(p.double.latency_ms as number);
    await Promise.all(pending);
    const [row] = await usageRowsFor(requestId);
    expect(row).toMatchObject({ tenant_id: "ten-analytics", input_tokens: 11, output_tokens: 3, cost_micro_usd: 10 });
  });

  it("a refused call: its status and error class, no tokens, no TTFT", async () => {
    const dataset = new RecordingDataset();
    const pending: Promise<unknown>[] = [];
    meter(dataset, uid("req-ae"), pending).failed(new ApiError(429, "rate_limit_exceeded", "slow down"));
    await drained(pending);
    const p = named(dataset.points[0]!);
    expect(p.blob).toMatchObject({ error_class: "rate_limit_exceeded", status: "429", provider: "" });
    expect(p.double).toMatchObject({ requests: 1, input_tokens: 0, output_tokens: 0, cost_micro_usd: 0, ttft_ms: 0, has_ttft: 0, status: 429, error: 1 });
  });

  it("a dataset that throws never fails the call, and the event still reaches D1", async () => {
    const pending: Promise<unknown>[] = [];
    const requestId = uid("req-ae-throw");
    const broken: AnalyticsEngineDataset = {
      writeDataPoint() {
        throw new Error("analytics engine unavailable");
      },
    };
    const m = meter(broken, requestId, pending);
    expect(() => m.finish({ status: 200, errorClass: null, usage: { promptTokens: 2, completionTokens: 1 }, estimated: true, prices: null, cache: null })).not.toThrow();
    await Promise.all(pending);
    expect(await usageRowsFor(requestId)).toEqual([expect.objectContaining({ input_tokens: 2, output_tokens: 1, tokens_estimated: 1 })]);
  });

  it("stays inside Analytics Engine's limits: one index of at most 96 bytes, 20 blobs of 16 KB, 20 doubles", () => {
    const long = "é".repeat(256);
    const event = { v: 1, id: "e", at: 0, tenant_id: long, key_id: long, agent_id: long, channel: long, route: long, model: long, provider: long, upstream_model: long, target: long, replica: long,
      input_tokens: 1, output_tokens: 1, tokens_estimated: false, cost_micro_usd: 1, latency_ms: 1, ttft_ms: 1, status: 200, error_class: long, cache: "HIT", attempts: 1, fallbacks: [], request_id: long, trace_id: null } satisfies UsageEvent;
    const point = usageDataPoint(event, "eu");
    expect(point.indexes).toHaveLength(1);
    const index = new TextEncoder().encode(point.indexes![0] as string);
    expect(index.length).toBeLessThanOrEqual(96);
    expect(new TextDecoder().decode(index)).toBe("é".repeat(48));
    expect(point.blobs!.length).toBeLessThanOrEqual(20);
    expect(point.blobs!.reduce((n, b) => n + new TextEncoder().encode(b as string).length, 0)).toBeLessThanOrEqual(16 * 1024);
    expect(point.doubles!.length).toBeLessThanOrEqual(20);
    expect(named(point).double).toMatchObject({ cache_hit: 1, has_ttft: 1 });
  });
});
