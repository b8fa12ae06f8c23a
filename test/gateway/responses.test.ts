// POST /v1/responses, GET and DELETE /v1/responses/:id through the official `openai` client
// (its Responses types and stream helpers check the shapes), against the fake upstream: the
// translation to chat (asserted on what the fake recorded), the event stream, function tool
// round trips, bad input, and an Anthropic-backed route end to end (stored responses:
// responses-store.test.ts).
import { SELF } from "cloudflare:test";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { BASE, call, openaiClient, recordedUpstreamRequest, uid } from "./helpers.ts";
import { makeRouterTenant, setConfig, type RouterTenant } from "../router/helpers.ts";

let t: RouterTenant;
let client: OpenAI;

const clientFor = openaiClient;

// Headers that make the fake record the upstream request under a known id.
const traced = () => {
  const id = uid("req-resp");
  return { id, options: { headers: { "x-request-id": id } } };
};

const weather = { type: "function" as const, name: "get_weather", description: "Weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: false };

beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, {
    routes: {
      claude: { tree: { type: "target", provider: "claude", model: "claude-test" } },
    },
  });
  client = clientFor(t.key);
});

describe("POST /v1/responses", () => {
  it("answers a Response object, translating the request to chat", async () => {
    const { id, options } = traced();
    const { data, response } = await client.responses
      .create(
        {
          model: "fake-echo",
          instructions: "be brief",
          input: "hello",
          max_output_tokens: 50,
          temperature: 0.5,
          metadata: { topic: "greeting" },
          user: "u1",
          text: { format: { type: "json_schema", name: "answer", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true } },
          reasoning: { effort: "low" },
        },
        options,
      )
      .withResponse();
    expect(data).toMatchObject({
      object: "response",
      status: "completed",
      model: "fake-echo",
      instructions: "be brief",
      max_output_tokens: 50,
      temperature: 0.5,
      metadata: { topic: "greeting" },
      store: true,
      previous_response_id: null,
      error: null,
      incomplete_details: null,
      usage: { input_tokens: 11, output_tokens: 3, total_tokens: 14 },
      output: [{ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "echo: hello", annotations: [] }] }],
    });
    expect(data.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(data.output_text).toBe("echo: hello");
    expect(response.headers.get("x-edgeclaw-model")).toBe("fake-echo");

    const seen = await recordedUpstreamRequest(id);
    expect(seen.body).toEqual({
      model: "fake-echo",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello" },
      ],
      max_completion_tokens: 50,
      temperature: 0.5,
      user: "u1",
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true } },
      reasoning_effort: "low",
    });
  });

  it("takes message items with content parts, and ends incomplete-free answers completed", async () => {
    const { id, options } = traced();
    const res = await client.responses.create(
      {
        model: "fake-echo",
        input: [
          { role: "developer", content: "rules" },
          { type: "message", role: "user", content: [{ type: "input_text", text: "look: " }, { type: "input_image", image_url: "https://example.com/cat.png", detail: "low" }] },
          { role: "assistant", content: "a cat" },
          { type: "reasoning", id: "rs_1", summary: [] },
          { role: "user", content: [{ type: "input_text", text: "and now?" }] },
        ],
      },
      options,
    );
    expect(res.output_text).toBe("echo: and now?");
    expect((await recordedUpstreamRequest(id)).body.messages).toEqual([
      { role: "developer", content: "rules" },
      { role: "user", content: [{ type: "text", text: "look: " }, { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } }] },
      { role: "assistant", content: "a cat" },
      { role: "user", content: [{ type: "text", text: "and now?" }] },
    ]);
  });
});

describe("fields beyond the Responses API", () => {
  it("hands them to the chat request (vLLM sampling fields through extra_body), validated there", async () => {
    const { id, options } = traced();
    await client.responses.create({ model: "fake-echo", input: "hi", top_k: 5, seed: 7, stop: ["END"], chat_template_kwargs: { enable_thinking: false } } as never, options);
    expect((await recordedUpstreamRequest(id)).body).toMatchObject({ top_k: 5, seed: 7, stop: ["END"], chat_template_kwargs: { enable_thinking: false } });
  });
});

describe("streaming", () => {
  it("sends the Responses event sequence, numbered, and stores the response before response.completed", async () => {
    const stream = await client.responses.create({ model: "fake-echo", input: "hi", stream: true });
    const events: { type: string; sequence_number: number; [k: string]: any }[] = [];
    for await (const event of stream) events.push(event as (typeof events)[number]);
    expect(events.map((e) => e.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("")).toBe("echo: hi");
    const completed = events.at(-1)!.response;
    expect(completed).toMatchObject({ status: "completed", usage: { input_tokens: 11, output_tokens: 3, total_tokens: 14 } });
    expect(completed.output[0]).toMatchObject({ type: "message", status: "completed", content: [{ type: "output_text", text: "echo: hi" }] });
    // Stored before the last event was sent: found at once.
    const stored = await client.responses.retrieve(completed.id);
    expect(stored.output_text).toBe("echo: hi");
    expect(stored.status).toBe("completed");
  });

  it("works with the client's stream helper and finalResponse()", async () => {
    const runner = client.responses.stream({ model: "fake-echo", input: "streamed" });
    const deltas: string[] = [];
    runner.on("response.output_text.delta", (e) => deltas.push(e.delta));
    const final = await runner.finalResponse();
    expect(final.output_text).toBe("echo: streamed");
    expect(deltas.join("")).toBe("echo: streamed");
    expect(final.usage?.total_tokens).toBe(14);
  });

  it("streams a tool call as function_call events", async () => {
    const runner = client.responses.stream({ model: "fake-tools", input: "weather?", tools: [weather] });
    const types: string[] = [];
    runner.on("event", (e) => types.push(e.type));
    const final = await runner.finalResponse();
    expect(final.output).toEqual([expect.objectContaining({ type: "function_call", call_id: "call_fake_1", name: "get_weather", arguments: '{"city":"Paris"}', status: "completed" })]);
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
  });

  it("ends with response.failed when the upstream breaks mid-stream", async () => {
    const stream = await client.responses.create({ model: "fake-reset", input: "hi", stream: true });
    const events: any[] = [];
    for await (const event of stream) events.push(event);
    const last = events.at(-1);
    expect(last.type).toBe("response.failed");
    expect(last.response.status).toBe("failed");
    expect(last.response.error.code).toBe("server_error");
    expect(last.response.error.message).toMatch(/\S/);
  });
});

describe("function tools", () => {
  it("round-trips a call: function_call out, function_call_output back via previous_response_id", async () => {
    const first = traced();
    const r1 = await client.responses.create({ model: "fake-tools", input: "weather in Paris?", tools: [weather], tool_choice: "auto" }, first.options);
    expect(r1.output).toEqual([expect.objectContaining({ type: "function_call", call_id: "call_fake_1", name: "get_weather", arguments: '{"city":"Paris"}' })]);
    expect(r1.output_text).toBe("");
    expect((await recordedUpstreamRequest(first.id)).body).toMatchObject({
      tools: [{ type: "function", function: { name: "get_weather", description: "Weather in a city", parameters: weather.parameters, strict: false } }],
      tool_choice: "auto",
    });

    const second = traced();
    const r2 = await client.responses.create(
      { model: "fake-echo", previous_response_id: r1.id, input: [{ type: "function_call_output", call_id: "call_fake_1", output: "sunny, 21 C" }], tools: [weather] },
      second.options,
    );
    expect(r2.previous_response_id).toBe(r1.id);
    expect(r2.output_text).toBe("echo: weather in Paris?");
    expect((await recordedUpstreamRequest(second.id)).body.messages).toEqual([
      { role: "user", content: "weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_fake_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "call_fake_1", content: "sunny, 21 C" },
    ]);
  });

  it("sends the whole history statelessly too (function_call items in the input)", async () => {
    const { id, options } = traced();
    await client.responses.create(
      {
        model: "fake-echo",
        store: false,
        input: [
          { role: "user", content: "two cities" },
          { role: "assistant", content: "checking" },
          { type: "function_call", call_id: "c1", name: "get_weather", arguments: '{"city":"Oslo"}' },
          { type: "function_call", call_id: "c2", name: "get_weather", arguments: '{"city":"Rome"}' },
          { type: "function_call_output", call_id: "c1", output: "cold" },
          { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "warm" }] },
        ],
        tools: [weather],
        tool_choice: { type: "allowed_tools", mode: "required", tools: [{ type: "function", name: "get_weather" }] },
        parallel_tool_calls: true,
      },
      options,
    );
    const body = (await recordedUpstreamRequest(id)).body;
    expect(body.messages).toEqual([
      { role: "user", content: "two cities" },
      {
        role: "assistant",
        content: "checking",
        tool_calls: [
          { id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } },
          { id: "c2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "c1", content: "cold" },
      { role: "tool", tool_call_id: "c2", content: "warm" },
    ]);
    expect(body.tool_choice).toBe("required");
    expect(body.parallel_tool_calls).toBe(true);
  });
});

describe("bad input", () => {
  const post = (body: unknown) => call("POST", "/v1/responses", { bearer: t.key, body });

  it("answers 400 in OpenAI's error shape, naming the parameter", async () => {
    const cases: [unknown, string | null, string][] = [
      [{ model: "fake-echo", input: "hi", max_output_token: 5 }, "max_output_token", "unknown_parameter"],
      [{ model: "fake-echo", input: "hi", max_tokens: 5 }, "max_tokens", "unsupported_parameter"],
      [{ model: "fake-echo", input: "hi", messages: [{ role: "user", content: "hi" }] }, "messages", "unsupported_parameter"],
      [{ model: "fake-echo", input: "hi", top_k: "many" }, "top_k", "invalid_value"],
      [{ model: "fake-echo", input: "hi", temperature: 3 }, "temperature", "invalid_value"],
      [{ model: "fake-echo", input: "hi", tools: [{ type: "web_search" }] }, "tools[0].type", "unsupported_tool"],
      [{ model: "fake-echo", input: [{ type: "item_reference", id: "msg_1" }] }, "input[0].type", "unsupported_value"],
      [{ model: "fake-echo", input: [{ role: "user" }] }, "input[0].content", "invalid_value"],
      [{ model: "fake-echo", input: [{ type: "function_call_output", call_id: "c", output: [{ type: "input_image", image_url: "https://x.test/i.png" }] }] }, "input[0].output[0]", "unsupported_value"],
      [{ model: "fake-echo" }, "input", "missing_required_parameter"],
      [{ model: "fake-echo", input: "hi", background: true }, "background", "unsupported_parameter"],
      [{ model: "fake-echo", input: "hi", conversation: "conv_1" }, "conversation", "unsupported_parameter"],
      [{ model: "fake-echo", input: "hi", tool_choice: { type: "function", name: "nope" }, tools: [weather] }, "tool_choice", "invalid_value"],
      [{ model: "fake-echo", input: "hi", metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }, "metadata", "invalid_value"],
    ];
    const typo = await post({ model: "fake-echo", input: "hi", max_output_token: 5 });
    expect(typo.body.error.message).toContain("Did you mean 'max_output_tokens'?");
    for (const [body, param, code] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error, JSON.stringify(body)).toMatchObject({ type: "invalid_request_error", param, code });
      expect(res.body.error.message).toMatch(/\S/);
    }
    const notJson = await SELF.fetch(`${BASE}/v1/responses`, { method: "POST", headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
  });

  it("answers 404 for an unknown model and a malformed id, through the client's error classes", async () => {
    await expect(client.responses.create({ model: "no-such-model", input: "hi" })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.retrieve("resp_not-a-real-id")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.create({ model: "fake-echo", input: "hi", tools: [{ type: "web_search" }] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe("an Anthropic-backed route", () => {
  it("translates Responses -> chat -> Anthropic Messages and back", async () => {
    const { id, options } = traced();
    const res = await client.responses.create({ model: "claude", instructions: "be brief", input: "hi", max_output_tokens: 100 }, options);
    expect(res.output_text).toBe("echo: hi");
    expect(res.usage).toMatchObject({ input_tokens: 12, output_tokens: 4, total_tokens: 16 });
    expect((await recordedUpstreamRequest(id)).body).toMatchObject({ model: "claude-test", system: "be brief", max_tokens: 100 });

    const streamed = await client.responses.stream({ model: "claude", input: "stream me" }).finalResponse();
    expect(streamed.output_text).toBe("echo: stream me");
    expect(streamed.usage?.total_tokens).toBe(16);
  });

  it("round-trips a tool call as tool_use and tool_result blocks", async () => {
    const r1 = await client.responses.create({ model: "claude", input: "weather?", tools: [weather] });
    expect(r1.output).toEqual([expect.objectContaining({ type: "function_call", call_id: "toolu_fake", name: "get_weather", arguments: '{"city":"Paris"}' })]);
    const { id, options } = traced();
    await client.responses.create({ model: "claude", previous_response_id: r1.id, input: [{ type: "function_call_output", call_id: "toolu_fake", output: "sunny" }], tools: [weather] }, options);
    const messages = (await recordedUpstreamRequest(id)).body.messages;
    expect(messages).toEqual([
      { role: "user", content: expect.anything() },
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_fake", name: "get_weather", input: { city: "Paris" } }] },
      { role: "user", content: [expect.objectContaining({ type: "tool_result", tool_use_id: "toolu_fake" })] },
    ]);
  });
});
