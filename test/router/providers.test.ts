// The Anthropic Messages adapter against a fake that follows Anthropic's documented shapes, and
// the Workers AI adapter against a stand-in for the AI binding's run().
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { chatCompletionRequest } from "../../schema/openai.ts";
import type { Env } from "../../workers/env.ts";
import { GatewayTiming } from "../../workers/http/timing.ts";
import { workersAi } from "../../workers/router/providers/workers-ai.ts";
import { relaySse } from "../../workers/router/sse.ts";
import { completeUpstream, openStream } from "../../workers/router/upstream.ts";
import { admin, chat, expectStatus, recordedUpstreamRequest, uid } from "../gateway/helpers.ts";
import { ask, makeRouterTenant, setConfig, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, {
    routes: {
      claude: { tree: { type: "target", provider: "claude", model: "claude-test" } },
      "claude-down": { tree: { type: "fallback", children: [{ type: "target", id: "a", provider: "claude", model: "claude-fail-529" }, { type: "target", id: "b", provider: "fake", model: "fake-echo" }] } },
      "claude-long": { tree: { type: "fallback", on: ["context_length"], children: [{ type: "target", id: "a", provider: "claude", model: "claude-fail-400" }, { type: "target", id: "b", provider: "fake", model: "fake-echo" }] } },
    },
  });
});

describe("Anthropic Messages adapter", () => {
  it("maps the request to Anthropic's shape and the answer back to OpenAI's", async () => {
    const requestId = uid("req-claude");
    const res = await chat(
      t.key,
      {
        model: "claude",
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "hi" },
          { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"x":1}' } }] },
          { role: "tool", tool_call_id: "call_1", content: "42" },
          { role: "user", content: "thanks" },
        ],
        stop: "END",
        temperature: 1.5,
        user: "u1",
      },
      { "x-request-id": requestId },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "echo: thanks" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 },
    });
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.authorization).toBe(env.PROVIDER_FAKE_KEY); // x-api-key
    expect(seen.accept).toBe("2023-06-01"); // anthropic-version
    expect(seen.body).toEqual({
      model: "claude-test",
      system: "be brief",
      max_tokens: 4096,
      stop_sequences: ["END"],
      temperature: 1,
      metadata: { user_id: "u1" },
      messages: [
        { role: "user", content: [{ type: "text", text: "hi" }] },
        { role: "assistant", content: [{ type: "tool_use", id: "call_1", name: "f", input: { x: 1 } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "42" }, { type: "text", text: "thanks" }] },
      ],
    });
  });

  it("maps tool use, in answers and in streams", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
    const res = await chat(t.key, { model: "claude", ...ask("weather?"), tools, tool_choice: "required" });
    expect(res.body.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: { content: null, tool_calls: [{ id: "toolu_fake", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
    });
    const stream = await chat(t.key, { model: "claude", ...ask("weather?"), tools, stream: true });
    const chunks = (stream.body as string).split("\n\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    const args = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []).map((c: { function: { arguments: string } }) => c.function.arguments).join("");
    expect(args).toBe('{"city":"Paris"}');
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("streams Anthropic's events as OpenAI chunks, usage and [DONE] included", async () => {
    const res = await chat(t.key, { model: "claude", ...ask("stream me"), stream: true });
    expect(res.status).toBe(200);
    const body = res.body as string;
    const chunks = body.split("\n\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    expect(chunks[0]).toMatchObject({ id: "msg_fake", object: "chat.completion.chunk", choices: [{ delta: { role: "assistant" } }] });
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("echo: stream me");
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: "stop" }], usage: { prompt_tokens: 12, completion_tokens: 4 } });
    expect(body.trim().endsWith("data: [DONE]")).toBe(true);
  });

  it("classifies Anthropic errors: overloaded (529) falls back, 'prompt is too long' is context_length", async () => {
    const down = await chat(t.key, { model: "claude-down", ...ask() });
    expect(down.status).toBe(200);
    expect(down.headers.get("x-edgeclaw-fallback-reason")).toContain("claude-down/a:server_error");
    const long = await chat(t.key, { model: "claude-long", ...ask() });
    expect(long.headers.get("x-edgeclaw-fallback-reason")).toBe("claude-long/a:context_length");
    expect(long.headers.get("x-edgeclaw-target")).toBe("claude-long/b");
  });
});

describe("Workers AI adapter", () => {
  const request = (body: Record<string, unknown>) => chatCompletionRequest.parse({ model: "public", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], ...body });
  const call = (ai: Env["AI"], body: Record<string, unknown> = {}) => ({
    adapter: workersAi,
    ctx: { request: request(body), target: { baseUrl: "binding:AI", model: "@cf/meta/llama-3.1-8b-instruct", credential: undefined } },
    env: { ...env, AI: ai } as Env,
    firstByteMs: 2_000,
    idleMs: 2_000,
    requestId: "r",
    timing: new GatewayTiming(),
    maxResponseBytes: 1024 * 1024,
    maxEventBytes: 64 * 1024,
  });

  it("calls the binding with the mapped inputs and maps its answer", async () => {
    const seen: unknown[] = [];
    const ai = { run: async (model: string, inputs: Record<string, unknown>) => (seen.push({ model, inputs }), { response: "hello there", usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }) };
    const { answer } = await completeUpstream(call(ai, { max_tokens: 20, temperature: 0.5, stop: "x" }));
    expect(seen).toEqual([{ model: "@cf/meta/llama-3.1-8b-instruct", inputs: { messages: [{ role: "user", content: "hi" }], max_tokens: 20, temperature: 0.5 } }]);
    expect(answer).toMatchObject({ object: "chat.completion", choices: [{ message: { role: "assistant", content: "hello there" }, finish_reason: "stop" }], usage: { total_tokens: 5 } });
  });

  it("relays the binding's stream as OpenAI chunks", async () => {
    const sse = 'data: {"response":"hel"}\n\ndata: {"response":"lo"}\n\ndata: {"response":"","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\ndata: [DONE]\n\n';
    const ai = { run: async () => new Response(sse).body as ReadableStream };
    const { primed } = await openStream(call(ai, { stream: true }));
    const text = await new Response(relaySse(primed, { transform: workersAi.toStreamChunks, idleTimeoutMs: 1_000 })).text();
    const chunks = text.split("\n\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
    expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe("hello");
    expect(chunks.at(-1)).toMatchObject({ usage: { total_tokens: 5 }, choices: [{ finish_reason: "stop" }] });
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("turns binding errors into error classes (capacity -> 429, unknown model -> 400)", async () => {
    await expect(completeUpstream(call({ run: async () => Promise.reject(new Error("3040: Capacity temporarily exceeded")) }))).rejects.toMatchObject({ status: 429, errorClass: "rate_limited" });
    await expect(completeUpstream(call({ run: async () => Promise.reject(new Error("5007: No such model")) }))).rejects.toMatchObject({ status: 400 });
  });

  it("answers a clear 502 where the deployment has no AI binding", async () => {
    expectStatus(await admin(t.owner, "POST", "/providers", { tenant_id: t.tenantId, name: "wai", kind: "workers-ai" }), 201);
    await setConfig(t, { routes: { wai: { tree: { type: "target", provider: "wai", model: "@cf/meta/llama-3.1-8b-instruct" } } } });
    const res = await chat(t.key, { model: "wai", ...ask() });
    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain("AI binding");
  });
});
