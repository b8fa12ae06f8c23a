// POST /v1/messages and /v1/messages/count_tokens through the official @anthropic-ai/sdk (its
// base URL pointed at the gateway, its fetch at the Worker), against an OpenAI-compatible upstream
// (translated both ways) and an Anthropic one (the client's body passed through, model swapped),
// both the local fake (test/fakes/openai-upstream.ts, test/fakes/anthropic-upstream.ts).
import Anthropic from "@anthropic-ai/sdk";
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { FAKE_SIGNATURE } from "../fakes/anthropic-upstream.ts";
import { makeRouterTenant, setConfig, type RouterTenant } from "../router/helpers.ts";
import { BASE, call, recordedUpstreamRequest, uid } from "./helpers.ts";

let t: RouterTenant;

beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, {
    routes: {
      claude: { tree: { type: "target", provider: "claude", model: "claude-test" } },
      "claude-break": { tree: { type: "target", provider: "claude", model: "claude-break" } },
      "claude-busy": { tree: { type: "target", provider: "claude", model: "claude-fail-429" } },
      // Anthropic first; on its overload the OpenAI-compatible target gets the translation.
      "claude-or-fake": { tree: { type: "fallback", children: [{ type: "target", id: "a", provider: "claude", model: "claude-fail-529" }, { type: "target", id: "b", provider: "fake", model: "fake-echo" }] } },
    },
  });
});

function client(apiKey = t.key): Anthropic {
  return new Anthropic({ baseURL: BASE, apiKey, maxRetries: 0, fetch: (url, init) => SELF.fetch(url as string, init) });
}

const withId = (requestId: string) => ({ headers: { "x-request-id": requestId } });

const weatherTool = { name: "get_weather", description: "Weather in a city", input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] } };

describe("POST /v1/messages, OpenAI-compatible upstream", () => {
  it("translates the request to chat and the answer back to a Message", async () => {
    const requestId = uid("req-msg");
    const message = await client().messages.create(
      {
        model: "fake-echo",
        max_tokens: 64,
        system: "be brief",
        messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
        stop_sequences: ["###"],
        metadata: { user_id: "u-1" },
        // Fields this SDK version no longer types, which raw clients still send.
        ...({ temperature: 0.3, top_k: 5 } as object),
      },
      withId(requestId),
    );
    expect(message).toMatchObject({
      type: "message",
      role: "assistant",
      model: "fake-echo",
      content: [{ type: "text", text: "echo: hello" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 11, output_tokens: 3 },
    });
    expect(message.id).toMatch(/^msg_/);
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.authorization).toBe(`Bearer ${env.PROVIDER_FAKE_KEY}`);
    expect(seen.body).toEqual({
      model: "fake-echo",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "hello" }] },
      ],
      max_tokens: 64,
      stop: ["###"],
      temperature: 0.3,
      top_k: 5,
      user: "u-1",
    });
  });

  it("streams Anthropic's event sequence, and the SDK's stream helpers assemble the message", async () => {
    const events: string[] = [];
    const raw = await client().messages.create({ model: "fake-echo", max_tokens: 32, messages: [{ role: "user", content: "stream me" }], stream: true });
    let text = "";
    for await (const ev of raw) {
      events.push(ev.type);
      if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") text += ev.delta.text;
      if (ev.type === "message_delta") expect(ev).toMatchObject({ delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 3, input_tokens: 11 } });
    }
    expect(events).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    expect(text).toBe("echo: stream me");

    // The SSE text itself: event names on every event, a ping after the first block starts.
    const res = await SELF.fetch(`${BASE}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": t.key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "fake-echo", max_tokens: 32, messages: [{ role: "user", content: "hi" }], stream: true }),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const names = (await res.text()).split("\n").filter((l) => l.startsWith("event: ")).map((l) => l.slice(7));
    expect(names.slice(0, 3)).toEqual(["message_start", "content_block_start", "ping"]);
    expect(names.slice(-2)).toEqual(["message_delta", "message_stop"]);

    const stream = client().messages.stream({ model: "fake-echo", max_tokens: 32, messages: [{ role: "user", content: "helpers" }] });
    const pieces: string[] = [];
    stream.on("text", (piece) => pieces.push(piece));
    const final = await stream.finalMessage();
    expect(pieces.join("")).toBe("echo: helpers");
    expect(final).toMatchObject({ role: "assistant", content: [{ type: "text", text: "echo: helpers" }], stop_reason: "end_turn", usage: { input_tokens: 11, output_tokens: 3 } });
  });

  it("runs a tool_use -> tool_result -> answer round trip", async () => {
    const question = { role: "user" as const, content: "What is the weather in Paris?" };
    const first = await client().messages.create({ model: "fake-tools", max_tokens: 64, tools: [weatherTool], tool_choice: { type: "any" }, messages: [question] });
    expect(first.stop_reason).toBe("tool_use");
    expect(first.content).toEqual([{ type: "tool_use", id: "call_fake_1", name: "get_weather", input: { city: "Paris" } }]);

    // The same call, streamed: input_json_delta pieces assembled by the SDK.
    const streamed = await client().messages.stream({ model: "fake-tools", max_tokens: 64, tools: [weatherTool], messages: [question] }).finalMessage();
    expect(streamed.content).toEqual([{ type: "tool_use", id: "call_fake_1", name: "get_weather", input: { city: "Paris" } }]);
    expect(streamed.stop_reason).toBe("tool_use");

    const requestId = uid("req-tool");
    const answer = await client().messages.create(
      {
        model: "fake-echo",
        max_tokens: 64,
        tools: [weatherTool],
        messages: [
          question,
          { role: "assistant", content: first.content },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "call_fake_1", content: [{ type: "text", text: "18 C, sunny" }] }, { type: "text", text: "and tomorrow?" }] },
        ],
      },
      withId(requestId),
    );
    expect(answer.content).toEqual([{ type: "text", text: "echo: and tomorrow?" }]);
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body.tools).toEqual([{ type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: weatherTool.input_schema } }]);
    expect(seen.body.messages).toEqual([
      { role: "user", content: "What is the weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_fake_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "call_fake_1", content: "18 C, sunny" },
      { role: "user", content: [{ type: "text", text: "and tomorrow?" }] },
    ]);
  });

  it("translates images and documents to chat parts", async () => {
    const requestId = uid("req-media");
    await client().messages.create(
      {
        model: "fake-echo",
        max_tokens: 16,
        messages: [
          {
            role: "user",
            content: [
              { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
              { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
              { type: "document", source: { type: "text", media_type: "text/plain", data: "the notes" }, title: "Notes" },
              { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" }, title: "paper.pdf" },
              { type: "text", text: "describe" },
            ],
          },
        ],
      },
      withId(requestId),
    );
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
          { type: "text", text: "Notes\n\nthe notes" },
          { type: "file", file: { file_data: "data:application/pdf;base64,JVBERi0=", filename: "paper.pdf" } },
          { type: "text", text: "describe" },
        ],
      },
    ]);
    // A Files API source is refused by name, not passed on.
    const files = await client()
      .messages.create({ model: "fake-echo", max_tokens: 16, messages: [{ role: "user", content: [{ type: "document", source: { type: "file", file_id: "file_1" } }] }] } as never)
      .catch((e: unknown) => e);
    expect(files).toBeInstanceOf(Anthropic.BadRequestError);
  });

  it("maps thinking to reasoning_effort and disable_parallel_tool_use to parallel_tool_calls", async () => {
    const requestId = uid("req-think");
    await client().messages.create(
      { model: "fake-echo", max_tokens: 6000, thinking: { type: "enabled", budget_tokens: 4096 }, tools: [weatherTool], tool_choice: { type: "auto", disable_parallel_tool_use: true }, messages: [{ role: "user", content: "think" }] },
      withId(requestId),
    );
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body).toMatchObject({ reasoning_effort: "medium", tool_choice: "auto", parallel_tool_calls: false });
    expect(seen.body.thinking).toBeUndefined();
  });
});

describe("POST /v1/messages, Anthropic upstream", () => {
  it("passes the client's body through with the model swapped, thinking blocks and signatures included", async () => {
    const requestId = uid("req-native");
    const body = {
      model: "claude",
      max_tokens: 4096,
      system: [{ type: "text" as const, text: "be brief", cache_control: { type: "ephemeral" as const } }],
      thinking: { type: "enabled" as const, budget_tokens: 2048 },
      messages: [{ role: "user" as const, content: "hello" }],
      metadata: { user_id: "u-2" },
    };
    const first = await client().messages.create(body, withId(requestId));
    expect(first).toMatchObject({
      id: "msg_fake",
      model: "claude",
      content: [
        { type: "thinking", thinking: "Let me think.", signature: FAKE_SIGNATURE },
        { type: "text", text: "echo: hello" },
      ],
      stop_reason: "end_turn",
      usage: { input_tokens: 12, output_tokens: 4 },
    });
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.authorization).toBe(env.PROVIDER_FAKE_KEY); // as x-api-key
    expect(seen.body).toEqual({ ...body, model: "claude-test" });

    // The next turn sends the thinking block back; Anthropic gets it, signature intact.
    const nextId = uid("req-native2");
    const turn = [...body.messages, { role: "assistant" as const, content: first.content }, { role: "user" as const, content: "again" }];
    const streamed = await client().messages.stream({ ...body, messages: turn }, withId(nextId)).finalMessage();
    expect(streamed.content).toEqual([
      { type: "thinking", thinking: "Let me think.", signature: FAKE_SIGNATURE },
      { type: "text", text: "echo: again" },
    ]);
    const again = await recordedUpstreamRequest(nextId);
    expect(again.body.stream).toBe(true);
    expect(again.body.messages[1]).toEqual({ role: "assistant", content: [{ type: "thinking", thinking: "Let me think.", signature: FAKE_SIGNATURE }, { type: "text", text: "echo: hello" }] });
  });

  it("reports which stop sequence ended the text", async () => {
    const message = await client().messages.create({ model: "claude", max_tokens: 50, stop_sequences: ["STOP"], messages: [{ role: "user", content: "one STOP two" }] });
    expect(message).toMatchObject({ content: [{ type: "text", text: "echo: one " }], stop_reason: "stop_sequence", stop_sequence: "STOP" });
    const streamed = await client().messages.stream({ model: "claude", max_tokens: 50, stop_sequences: ["STOP"], messages: [{ role: "user", content: "one STOP two" }] }).finalMessage();
    expect(streamed).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: "STOP" });
  });

  it("runs a tool_use -> tool_result -> answer round trip", async () => {
    const question = { role: "user" as const, content: "weather?" };
    const first = await client().messages.stream({ model: "claude", max_tokens: 64, tools: [weatherTool], messages: [question] }).finalMessage();
    expect(first.stop_reason).toBe("tool_use");
    expect(first.content).toEqual([{ type: "tool_use", id: "toolu_fake", name: "get_weather", input: { city: "Paris" } }]);
    const answer = await client().messages.create({
      model: "claude",
      max_tokens: 64,
      tools: [weatherTool],
      messages: [question, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_fake", content: "18 C" }] }],
    });
    expect(answer).toMatchObject({ content: [{ type: "text", text: "echo: tool said 18 C" }], stop_reason: "end_turn" });
  });

  it("falls back to an OpenAI-compatible target with the translation, not the Anthropic body", async () => {
    const requestId = uid("req-fallback");
    const res = await client()
      .messages.create({ model: "claude-or-fake", max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "hello" }] }, withId(requestId))
      .withResponse();
    expect(res.data.content).toEqual([{ type: "text", text: "echo: hello" }]);
    expect(res.response.headers.get("x-edgeclaw-target")).toBe("claude-or-fake/b");
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body).toEqual({ model: "fake-echo", messages: [{ role: "user", content: "hello" }], max_tokens: 2048, reasoning_effort: "low" });
  });

  it("ends a stream the upstream broke with Anthropic's error event", async () => {
    const res = await SELF.fetch(`${BASE}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-break", max_tokens: 32, messages: [{ role: "user", content: "hi" }], stream: true }),
    });
    const text = await res.text();
    expect(text).toContain('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}');
    expect(text).not.toContain("message_stop");
    await expect(client().messages.stream({ model: "claude-break", max_tokens: 32, messages: [{ role: "user", content: "hi" }] }).finalMessage()).rejects.toMatchObject({ type: "overloaded_error" });
  });
});

describe("POST /v1/messages/count_tokens", () => {
  const messages = [{ role: "user" as const, content: "count these tokens, please" }];

  it("asks an Anthropic target for the exact count", async () => {
    const requestId = uid("req-count");
    const res = await client().messages.countTokens({ model: "claude", messages, system: "s" }, withId(requestId)).withResponse();
    expect(res.data).toEqual({ input_tokens: JSON.stringify(messages).length });
    expect(res.response.headers.get("x-edgeclaw-token-count")).toBe("upstream");
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body).toEqual({ model: "claude-test", messages, system: "s" });
  });

  it("estimates for other targets, and says so", async () => {
    const short = await client().messages.countTokens({ model: "fake-echo", messages }).withResponse();
    expect(short.response.headers.get("x-edgeclaw-token-count")).toBe("estimate");
    expect(short.data.input_tokens).toBeGreaterThan(0);
    const long = await client().messages.countTokens({ model: "fake-echo", messages: [{ role: "user", content: "count these tokens, please ".repeat(40) }], tools: [weatherTool] });
    expect(long.input_tokens).toBeGreaterThan(short.data.input_tokens * 10);
  });
});

describe("errors in Anthropic's shape", () => {
  it("an unknown key is an AuthenticationError", async () => {
    const err = await client("sk-not-a-key").messages.create({ model: "fake-echo", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(err).toMatchObject({ status: 401, type: "authentication_error" });
  });

  it("a bad body is a BadRequestError naming the field", async () => {
    const missing = await client().messages.create({ model: "fake-echo", messages: [{ role: "user", content: "hi" }] } as never).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(Anthropic.BadRequestError);
    expect((missing as InstanceType<typeof Anthropic.APIError>).message).toContain("max_tokens");
    const unknown = await client().messages.create({ model: "fake-echo", max_tokens: 5, messages: [{ role: "user", content: "hi" }], max_token: 5 } as never).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(Anthropic.BadRequestError);
    expect((unknown as InstanceType<typeof Anthropic.APIError>).message).toContain("max_token");
    const server = await client()
      .messages.create({ model: "fake-echo", max_tokens: 5, messages: [{ role: "user", content: "hi" }], tools: [{ type: "web_search_20250305", name: "web_search" }] } as never)
      .catch((e: unknown) => e);
    expect(server).toBeInstanceOf(Anthropic.BadRequestError);
    expect((server as InstanceType<typeof Anthropic.APIError>).message).toContain("server tools");
  });

  it("an unknown model is a NotFoundError, on both endpoints", async () => {
    const err = await client().messages.create({ model: "no-such-model", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err).toMatchObject({ status: 404, type: "not_found_error" });
    const count = await client().messages.countTokens({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(count).toBeInstanceOf(Anthropic.NotFoundError);
  });

  it("an upstream rate limit is a RateLimitError", async () => {
    const err = await client().messages.create({ model: "claude-busy", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
  });

  it("renders raw errors as {type:error, error:{type, message}, request_id}", async () => {
    const noKey = await call("POST", "/v1/messages", { body: { model: "fake-echo", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }, headers: { "x-request-id": "rid-00000001" } });
    expect(noKey.status).toBe(401);
    expect(noKey.body).toEqual({ type: "error", error: { type: "authentication_error", message: expect.stringContaining("x-api-key") }, request_id: "rid-00000001" });
    const version = await call("POST", "/v1/messages", { bearer: t.key, body: {}, headers: { "anthropic-version": "june" } });
    expect(version.status).toBe(400);
    expect(version.body.error).toMatchObject({ type: "invalid_request_error", message: expect.stringContaining("anthropic-version") });
    const twoKeys = await call("POST", "/v1/messages", { bearer: t.key, headers: { "x-api-key": "sk-other" }, body: {} });
    expect(twoKeys.status).toBe(401);
    const unknownUrl = await call("POST", "/v1/messages/batches", { bearer: t.key, body: {} });
    expect(unknownUrl.status).toBe(404);
    expect(unknownUrl.body.error.type).toBe("not_found_error");
    // Elsewhere under /v1 the OpenAI shape stays.
    const openai = await call("POST", "/v1/chat/completions", { body: {} });
    expect(openai.body.error).toMatchObject({ type: "authentication_error", code: "missing_api_key" });
  });

  it("x-api-key authenticates like a bearer key", async () => {
    const res = await call("POST", "/v1/messages", { headers: { "x-api-key": t.key }, body: { model: "fake-echo", max_tokens: 5, messages: [{ role: "user", content: "hi" }] } });
    expect(res.status).toBe(200);
    expect(res.body.content).toEqual([{ type: "text", text: "echo: hi" }]);
  });
});
