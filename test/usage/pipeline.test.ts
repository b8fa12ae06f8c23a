// End to end: real /v1 calls through the Worker (fake upstream) send usage events to the real
// usage queue; its consumer (the Worker's queue() handler) writes them to D1. The rows carry the
// upstream's own token counts, the catalog's prices, the served target and the outcome.
import { beforeAll, describe, expect, it } from "vitest";
import { BASE, chat, hello, makeTenant, uid, type TestTenant } from "../gateway/helpers.ts";
import { SELF } from "cloudflare:test";
import { usageRowsFor } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});

async function stream(body: Record<string, unknown>, requestId: string): Promise<string> {
  const res = await SELF.fetch(`${BASE}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ ...hello, stream: true, ...body }),
  });
  expect(res.status).toBe(200);
  return res.text();
}

describe("usage events from /v1 calls", () => {
  it("a JSON chat call: the upstream's tokens, the catalog's prices, who called and what served it", async () => {
    const requestId = uid("req-usage-json");
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await chat(t.key, { model: "house-model", ...hello }, { "x-request-id": requestId, traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(res.status).toBe(200);
    expect(res.body.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 3 });
    const [row, ...more] = await usageRowsFor(requestId);
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      tenant_id: t.tenantId,
      key_id: t.keyId,
      agent_id: null,
      route: "/v1/chat/completions",
      model: "house-model",
      provider: "fake",
      upstream_model: "fake-echo",
      input_tokens: 11,
      output_tokens: 3,
      tokens_estimated: 0,
      status: 200,
      error_class: null,
      attempts: 1,
      fallbacks: null,
      ttft_ms: null,
      trace_id: traceId,
    });
    // house-model costs $0.5 / $1.5 per million tokens: 11 x 0.5 + 3 x 1.5 micro-USD.
    expect(row!.cost_micro_usd).toBeCloseTo(11 * 0.5 + 3 * 1.5, 9);
    expect(row!.target).toBe(res.headers.get("x-edgeclaw-target"));
    expect(row!.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it("a call without a traceparent carries the trace the gateway made for it", async () => {
    const requestId = uid("req-usage-trace");
    const res = await chat(t.key, { model: "fake-echo", ...hello }, { "x-request-id": requestId });
    expect(res.status).toBe(200);
    const returned = res.headers.get("traceparent");
    expect(returned).not.toBeNull();
    const [row] = await usageRowsFor(requestId);
    expect(row!.trace_id).toBe(returned!.split("-")[1]);
  });

  it("a streamed call with the upstream's usage chunk: its tokens, not estimated, with a TTFT", async () => {
    const requestId = uid("req-usage-sse");
    const text = await stream({ model: "house-model", stream_options: { include_usage: true } }, requestId);
    expect(text).toContain('"usage"');
    const [row] = await usageRowsFor(requestId);
    expect(row).toMatchObject({ model: "house-model", input_tokens: 11, output_tokens: 3, tokens_estimated: 0, status: 200, error_class: null });
    expect(row!.cost_micro_usd).toBeCloseTo(10, 9);
    expect(row!.ttft_ms).not.toBeNull();
    expect(row!.ttft_ms!).toBeLessThanOrEqual(row!.latency_ms);
  });

  it("a stream without usage from the upstream: counted from the content and flagged as estimated", async () => {
    const requestId = uid("req-usage-est");
    await stream({ model: "fake-echo" }, requestId);
    const [row] = await usageRowsFor(requestId);
    expect(row).toMatchObject({ model: "fake-echo", tokens_estimated: 1, status: 200 });
    // "echo: hello" is 11 characters: about 3 tokens at 4 characters a token.
    expect(row!.output_tokens).toBe(Math.ceil("echo: hello".length / 4));
  });

  it("a failing upstream: the error's status and class, attempts and no tokens", async () => {
    const requestId = uid("req-usage-500");
    const res = await chat(t.key, { model: "fake-status-400", ...hello }, { "x-request-id": requestId });
    expect(res.status).toBe(400);
    const [row] = await usageRowsFor(requestId);
    expect(row).toMatchObject({ model: "fake-status-400", status: 400, provider: "fake", input_tokens: 0, output_tokens: 0, cost_micro_usd: 0 });
    expect(row!.error_class).toBe(res.body.error.code);
    expect(row!.attempts).toBeGreaterThanOrEqual(1);
  });

  it("an unknown model is not a model call: no event", async () => {
    const requestId = uid("req-usage-404");
    const res = await chat(t.key, { model: "no-such-model", ...hello }, { "x-request-id": requestId });
    expect(res.status).toBe(404);
    // A known call sent after it lands; by then the 404's event would have too.
    const after = uid("req-usage-after");
    expect((await chat(t.key, { model: "fake-echo", ...hello }, { "x-request-id": after })).status).toBe(200);
    expect(await usageRowsFor(after)).toHaveLength(1);
    expect(await usageRowsFor(requestId, 1, 0)).toEqual([]);
  });
});
