import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, call, chat, expectStatus, hello, makeTenant, recordedUpstreamRequest, uid, type TestTenant } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});

describe("POST /v1/chat/completions, non-stream", () => {
  it("returns the upstream completion and says which model and provider served it", async () => {
    const requestId = uid("req-echo");
    const res = await chat(t.key, { model: "fake-echo", ...hello }, { "x-request-id": requestId });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      object: "chat.completion",
      model: "fake-echo",
      system_fingerprint: "fp_fake",
      choices: [{ index: 0, message: { role: "assistant", content: "echo: hello" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 },
    });
    expect(res.headers.get("x-request-id")).toBe(requestId);
    expect(res.headers.get("x-edgeclaw-model")).toBe("fake-echo");
    expect(res.headers.get("x-edgeclaw-provider")).toBe("fake");
    expect(res.headers.get("x-edgeclaw-overhead-ms")).toMatch(/^\d+\.\d{2}$/); // present, milliseconds with 2 decimals
  });

  it("sends the upstream model id, the provider credential from its secret, and the request id", async () => {
    const requestId = uid("req-map");
    const body = {
      model: "house-model",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "what is" }, { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "call_1", content: "42" },
      ],
      tools: [{ type: "function", function: { name: "f", description: "d", parameters: { type: "object", properties: {} } } }],
      tool_choice: { type: "function", function: { name: "f" } },
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 64,
      stop: ["\n\n"],
      seed: 7,
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } },
      user: "end-user-1",
    };
    const res = await chat(t.key, body, { "x-request-id": requestId });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-model")).toBe("house-model");
    expect(res.headers.get("x-edgeclaw-upstream-model")).toBe("fake-echo");
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.authorization).toBe(`Bearer ${env.PROVIDER_FAKE_KEY}`);
    expect(seen.body).toEqual({ ...body, model: "fake-echo" });
  });

  it("preserves tool calls", async () => {
    const res = await chat(t.key, {
      model: "fake-tools",
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
      tool_choice: "auto",
    });
    expect(res.status).toBe(200);
    expect(res.body.choices[0]).toEqual({
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_fake_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    });
  });
});

describe("request validation", () => {
  const cases: Array<[string, unknown, string | null, string]> = [
    ["missing model", { messages: hello.messages }, "model", "invalid_value"],
    ["empty messages", { model: "fake-echo", messages: [] }, "messages", "invalid_value"],
    ["unknown role", { model: "fake-echo", messages: [{ role: "wizard", content: "x" }] }, "messages[0].role", "invalid_value"],
    ["user content of the wrong type", { model: "fake-echo", messages: [{ role: "user", content: 5 }] }, "messages[0].content", "invalid_value"],
    [
      "a bad content part",
      { model: "fake-echo", messages: [{ role: "user", content: [{ type: "text", text: "ok" }, { type: "image_url" }] }] },
      "messages[0].content[1].image_url",
      "invalid_value",
    ],
    ["tool message without tool_call_id", { model: "fake-echo", messages: [{ role: "tool", content: "x" }] }, "messages[0].tool_call_id", "invalid_value"],
    ["assistant message with neither content nor tool calls", { model: "fake-echo", messages: [{ role: "assistant" }] }, "messages[0].content", "invalid_value"],
    ["temperature out of range", { model: "fake-echo", ...hello, temperature: 3 }, "temperature", "invalid_value"],
    ["max_tokens not a positive integer", { model: "fake-echo", ...hello, max_tokens: 0 }, "max_tokens", "invalid_value"],
    ["too many stop sequences", { model: "fake-echo", ...hello, stop: ["a", "b", "c", "d", "e"] }, "stop", "invalid_value"],
    ["bad tool_choice", { model: "fake-echo", ...hello, tool_choice: "sometimes" }, "tool_choice", "invalid_value"],
    ["bad response_format", { model: "fake-echo", ...hello, response_format: { type: "xml" } }, "response_format.type", "invalid_value"],
    ["an unknown parameter", { model: "fake-echo", ...hello, max_token: 5 }, "max_token", "unknown_parameter"],
    ["n > 1", { model: "fake-echo", ...hello, n: 2 }, "n", "unsupported_value"],
    ["stream_options without stream", { model: "fake-echo", ...hello, stream_options: { include_usage: true } }, "stream_options", "invalid_value"],
    ["a body that is not an object", [1, 2, 3], null, "invalid_value"],
  ];

  for (const [name, body, param, code] of cases) {
    it(`answers 400 for ${name}, naming the parameter`, async () => {
      const res = await chat(t.key, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: "invalid_request_error", param, code });
      expect(typeof res.body.error.message).toBe("string");
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    });
  }

  it("answers 400 invalid_json for a body that is not JSON", async () => {
    const res = await call("POST", "/v1/chat/completions", {
      bearer: t.key,
      headers: { "content-type": "application/json" },
      body: undefined,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_json");
    const garbled = await SELFPost(t.key, "{not json");
    expect(garbled.status).toBe(400);
    expect(((await garbled.json()) as any).error.code).toBe("invalid_json");
  });

  it("answers 413 for a body over the limit, by Content-Length or by counting", async () => {
    const big = { model: "fake-echo", messages: [{ role: "user", content: "x".repeat(70_000) }] };
    const res = await chat(t.key, big);
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ type: "invalid_request_error", code: "request_too_large" });
    // Without a Content-Length (a streamed request body) the limit still holds.
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(JSON.stringify(big)));
        controller.close();
      },
    });
    const chunked = await SELFPost(t.key, streamed);
    expect(chunked.status).toBe(413);
  });

  it("answers 404 model_not_found for a model the tenant does not have", async () => {
    const res = await chat(t.key, { model: "gpt-nonexistent", ...hello });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" });
  });
});

describe("upstream failures", () => {
  it("passes a 429 on with the upstream's Retry-After", async () => {
    const res = await chat(t.key, { model: "fake-status-429", ...hello });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(res.body.error).toMatchObject({ type: "rate_limit_error", code: "upstream_rate_limited" });
    expect(res.body.error.message).toContain("fake upstream says 429");
  });

  it("answers 400 with the upstream's message when it rejects the request", async () => {
    const res = await chat(t.key, { model: "fake-status-400", ...hello });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "upstream_rejected_request" });
    expect(res.body.error.message).toContain("fake upstream says 400");
  });

  it.each([
    ["fake-status-500", "upstream_error"],
    ["fake-status-503", "upstream_error"],
    ["fake-status-401", "upstream_auth_failed"],
    ["fake-garbage", "upstream_bad_response"],
    ["fake-wrong-shape", "upstream_bad_response"],
  ])("answers 502 when %s", async (model, code) => {
    const res = await chat(t.key, { model, ...hello });
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ type: "upstream_error", code });
    expect(res.headers.get("x-edgeclaw-provider")).toBe("fake");
    if (code === "upstream_auth_failed") expect(res.body.error.message).not.toContain("fake upstream says");
  });

  it("answers 502 when the upstream cannot be reached", async () => {
    const providerId = await extraProvider("gone", "http://127.0.0.1:9/v1");
    await extraModel("unreachable", providerId, "fake-echo");
    const res = await chat(t.key, { model: "unreachable", ...hello });
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ type: "upstream_error", code: "upstream_unreachable" });
  });

  it("answers 504 when the upstream is slower than the provider's timeout", async () => {
    const providerId = await extraProvider("slow", `${env.FAKE_UPSTREAM_URL}/v1`, { timeout_ms: 300 });
    await extraModel("slowpoke", providerId, "fake-slow");
    const res = await chat(t.key, { model: "slowpoke", ...hello });
    expect(res.status).toBe(504);
    expect(res.body.error).toMatchObject({ type: "upstream_error", code: "upstream_timeout" });
  });

  it("answers 502 when the provider's credential secret is not configured", async () => {
    const providerId = await extraProvider("nocred", `${env.FAKE_UPSTREAM_URL}/v1`, { credential_ref: "PROVIDER_NOT_SET" });
    await extraModel("no-credential", providerId, "fake-echo");
    const res = await chat(t.key, { model: "no-credential", ...hello });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_credential_missing");
  });
});

function SELFPost(key: string, body: BodyInit): Promise<Response> {
  return SELF.fetch("http://gateway.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body,
    // A stream body needs half-duplex in fetch.
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
}

async function extraProvider(name: string, baseUrl: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = expectStatus(
    await admin(t.owner, "POST", "/providers", { tenant_id: t.tenantId, name, kind: "openai-compatible", base_url: baseUrl, ...extra }),
    201,
  );
  return res.body.id as string;
}

async function extraModel(publicName: string, providerId: string, upstream: string): Promise<void> {
  expectStatus(
    await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: publicName, provider_id: providerId, upstream_model: upstream }),
    201,
  );
}
