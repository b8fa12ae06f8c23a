// The API surface through the clients people actually run, against `npm start`'s processes (the
// gateway in wrangler dev and the gpu-backend on a generated tiny model) plus, for what a random-
// weight model cannot show, a fake OpenAI-compatible and Anthropic upstream recording what it got:
// the official `openai` client (embeddings, responses, completions, chat with reasoning_effort and
// extra_body), `@anthropic-ai/sdk` (messages, stream, tool_use round trip, count_tokens, error
// classes), LangChain (OpenAIEmbeddings, a tool-calling ChatOpenAI) and the AI SDK (embed,
// generateText with a tool). The model has random weights: answers are checked for shape, counts
// and schema validity, never for text.
import { createOpenAI } from "@ai-sdk/openai";
import Anthropic from "@anthropic-ai/sdk";
import { tool as lcTool } from "@langchain/core/tools";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { embed, generateText, tool } from "ai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startFakeUpstream, type FakeUpstream } from "../fakes/openai-upstream.ts";
import { cleanUp, ownerToken, prepare, start, stop, type Running, type StartDirs } from "../support/npm-start.ts";

let dirs: StartDirs;
let running: Running | undefined;
let fake: FakeUpstream;
let gateway: string; // http://127.0.0.1:<port>

const EMBEDDING_MODEL = "default-embedding";
// The tool every tool test declares: an enum keeps a random-weight model's forced call short.
// Still, the tiny model's tokens are about one character each and its random weights choose the
// whitespace the JSON grammar allows, so forced calls get TOOL_TOKENS to finish in.
const TOOL_TOKENS = 400;
const weatherParameters = {
  type: "object" as const,
  properties: { unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["unit"],
  additionalProperties: false,
};

function openai(apiKey = running!.apiKey): OpenAI {
  return new OpenAI({ baseURL: running!.baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
}

function anthropic(apiKey = running!.apiKey): Anthropic {
  return new Anthropic({ baseURL: gateway, apiKey, maxRetries: 0, timeout: 120_000 });
}

async function adminCall(token: string, method: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${gateway}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function recorded(requestId: string | null): Promise<Record<string, unknown>> {
  const res = await fetch(`${fake.url}/control/requests/${encodeURIComponent(requestId ?? "")}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { body: Record<string, unknown> }).body;
}

beforeAll(async () => {
  fake = await startFakeUpstream();
  dirs = await prepare("edgeclaw-clients-");
  // What a user does to let the gateway reach an upstream of their own on this machine: name
  // it in OUTBOUND_ALLOW_HOSTS (npm start then adds nothing; the gpu-backend is named too).
  writeFileSync(join(dirs.workDir, "dev.vars"), `OUTBOUND_ALLOW_HOSTS=127.0.0.1:${dirs.ports.gpu},${new URL(fake.url).host}\n`);
  running = await start(dirs);
  gateway = new URL(running.baseURL).origin;
  // The demo tenant also gets the fake upstream, as an OpenAI-compatible and an Anthropic
  // provider (npm start lets 127.0.0.1 through the outbound-URL policy).
  const token = ownerToken(dirs);
  for (const [name, kind] of [["fake-openai", "openai-compatible"], ["fake-anthropic", "anthropic"]] as const) {
    const provider = await adminCall(token, "POST", "/providers", { tenant_id: "demo", name, kind, base_url: `${fake.url}/v1` });
    const publicName = kind === "anthropic" ? "fake-claude" : "fake-echo";
    await adminCall(token, "POST", "/models", { tenant_id: "demo", public_name: publicName, provider_id: provider.id, upstream_model: kind === "anthropic" ? "claude-fake" : "fake-echo" });
  }
});

afterAll(async () => {
  if (running) await stop(running);
  cleanUp(dirs);
  await fake?.close();
});

describe("the openai client", () => {
  it("embeds strings as floats and as base64, with the model's dimensions, deterministically", async () => {
    const floats = await openai().embeddings.create({ model: EMBEDDING_MODEL, input: ["alpha", "beta"], encoding_format: "float" });
    expect(floats.object).toBe("list");
    expect(floats.data.map((d) => d.index)).toEqual([0, 1]);
    const dims = floats.data[0]!.embedding.length;
    expect(dims).toBeGreaterThan(0);
    expect(floats.data[1]!.embedding).toHaveLength(dims);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(0);

    const { data, response } = await openai()
      .embeddings.create({ model: EMBEDDING_MODEL, input: "alpha", encoding_format: "base64" })
      .withResponse();
    const b64 = data.data[0]!.embedding as unknown as string;
    expect(typeof b64).toBe("string");
    const bytes = Buffer.from(b64, "base64");
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    expect(decoded).toHaveLength(dims);
    // The same input embeds to the same vector (float32 round trip of the float answer).
    expect(decoded).toEqual(floats.data[0]!.embedding.map((v) => Math.fround(v)));
    expect(response.headers.get("x-edgeclaw-model")).toBe(EMBEDDING_MODEL);
  });

  it("runs a Responses call, its stream, a function tool round trip and previous_response_id", async () => {
    const first = await openai().responses.create({ model: "default", input: "Say hi", max_output_tokens: 8 });
    expect(first.object).toBe("response");
    expect(first.status).toMatch(/completed|incomplete/);
    expect(typeof first.output_text).toBe("string");
    expect(first.usage!.output_tokens).toBeGreaterThan(0);

    const events: string[] = [];
    const stream = openai().responses.stream({ model: "default", input: "Count", max_output_tokens: 6, previous_response_id: first.id });
    for await (const event of stream) events.push(event.type);
    const final = await stream.finalResponse();
    expect(events[0]).toBe("response.created");
    expect(events).toContain("response.output_text.delta");
    // A random-weight model usually runs into max_output_tokens: OpenAI then ends with
    // response.incomplete (status "incomplete") instead of response.completed.
    expect(["response.completed", "response.incomplete"]).toContain(events.at(-1));
    expect(final.status).toBe(events.at(-1) === "response.completed" ? "completed" : "incomplete");
    expect(final.previous_response_id).toBe(first.id);

    const tools: OpenAI.Responses.Tool[] = [{ type: "function", name: "get_weather", description: "The weather", parameters: weatherParameters, strict: true }];
    const called = await openai().responses.create({ model: "default", input: "Weather?", tools, tool_choice: "required", max_output_tokens: TOOL_TOKENS });
    const call = called.output.find((item) => item.type === "function_call");
    expect(call).toBeDefined();
    if (call?.type !== "function_call") return;
    expect(call.name).toBe("get_weather");
    expect(["celsius", "fahrenheit"]).toContain(JSON.parse(call.arguments).unit);
    const answered = await openai().responses.create({
      model: "default",
      previous_response_id: called.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "21 degrees" }],
      max_output_tokens: 8,
    });
    expect(answered.previous_response_id).toBe(called.id);
    expect(typeof answered.output_text).toBe("string");
    expect((await openai().responses.retrieve(answered.id)).id).toBe(answered.id);
  });

  it("answers a legacy completion, streamed and not", async () => {
    const done = await openai().completions.create({ model: "default", prompt: "Once upon", max_tokens: 5 });
    expect(done.object).toBe("text_completion");
    expect(typeof done.choices[0]!.text).toBe("string");
    expect(done.usage!.completion_tokens).toBeGreaterThan(0);
    const parts: string[] = [];
    for await (const chunk of await openai().completions.create({ model: "default", prompt: "Once upon", max_tokens: 5, stream: true })) {
      parts.push(chunk.choices[0]?.text ?? "");
    }
    expect(parts.length).toBeGreaterThan(1);
  });

  it("sends reasoning_effort and extra_body sampling fields to an OpenAI-compatible upstream unchanged", async () => {
    const { response } = await openai()
      .chat.completions.create({
        model: "fake-echo",
        messages: [{ role: "user", content: "hi" }],
        reasoning_effort: "low",
        // What vLLM and llama.cpp users send through extra_body (the client merges it into the body).
        ...({ top_k: 40, min_p: 0.05, repetition_penalty: 1.1 } as object),
      })
      .withResponse();
    const body = await recorded(response.headers.get("x-request-id"));
    expect(body).toMatchObject({ reasoning_effort: "low", top_k: 40, min_p: 0.05, repetition_penalty: 1.1 });
    expect(response.headers.get("x-edgeclaw-dropped-params")).toBeNull();
  });
});

describe("@anthropic-ai/sdk with its base URL on the gateway", () => {
  it("answers messages, streamed and not", async () => {
    const message = await anthropic().messages.create({ model: "default", max_tokens: 8, messages: [{ role: "user", content: "Say hi" }] });
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    expect(message.content[0]?.type).toBe("text");
    expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
    expect(message.usage.output_tokens).toBeGreaterThan(0);

    const stream = anthropic().messages.stream({ model: "default", max_tokens: 6, messages: [{ role: "user", content: "Count" }] });
    const events: string[] = [];
    stream.on("streamEvent", (event) => events.push(event.type));
    const final = await stream.finalMessage();
    expect(events[0]).toBe("message_start");
    expect(events).toContain("content_block_delta");
    expect(events.at(-1)).toBe("message_stop");
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });

  it("round-trips a tool_use through a tool_result", async () => {
    const tools: Anthropic.Tool[] = [{ name: "get_weather", description: "The weather", input_schema: weatherParameters }];
    const asked: Anthropic.MessageParam = { role: "user", content: "Weather?" };
    const first = await anthropic().messages.create({ model: "default", max_tokens: TOOL_TOKENS, tools, tool_choice: { type: "any" }, messages: [asked] });
    expect(first.stop_reason).toBe("tool_use");
    const use = first.content.find((b) => b.type === "tool_use");
    expect(use?.type).toBe("tool_use");
    if (use?.type !== "tool_use") return;
    expect(["celsius", "fahrenheit"]).toContain((use.input as { unit: string }).unit);
    const second = await anthropic().messages.create({
      model: "default",
      max_tokens: 8,
      tools,
      messages: [asked, { role: "assistant", content: first.content }, { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "21 degrees" }] }],
    });
    expect(second.content.some((b) => b.type === "text")).toBe(true);
  });

  it("counts tokens and raises the SDK's error classes", async () => {
    const counted = await anthropic().messages.countTokens({ model: "default", messages: [{ role: "user", content: "How many tokens is this?" }] });
    expect(counted.input_tokens).toBeGreaterThan(0);
    await expect(anthropic("sk-edgeclaw-wrong").messages.create({ model: "default", max_tokens: 4, messages: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(anthropic().messages.create({ model: "default", max_tokens: 0, messages: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(anthropic().messages.create({ model: "no-such-model", max_tokens: 4, messages: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  it("translates reasoning to an Anthropic upstream: thinking reaches it as Anthropic sent it", async () => {
    const { response } = await anthropic()
      .messages.create({ model: "fake-claude", max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    const body = await recorded(response.headers.get("x-request-id"));
    expect(body).toMatchObject({ model: "claude-fake", max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 } });
  });
});

describe("LangChain", () => {
  it("embeds with OpenAIEmbeddings", async () => {
    const embeddings = new OpenAIEmbeddings({ model: EMBEDDING_MODEL, apiKey: running!.apiKey, configuration: { baseURL: running!.baseURL } });
    const [one, two] = await embeddings.embedDocuments(["alpha", "beta"]);
    expect(one!.length).toBeGreaterThan(0);
    expect(two).toHaveLength(one!.length);
    expect(await embeddings.embedQuery("alpha")).toEqual(one);
  });

  it("runs a tool-calling ChatOpenAI", async () => {
    const weather = lcTool(async ({ unit }: { unit: string }) => `21 ${unit}`, {
      name: "get_weather",
      description: "The weather",
      schema: z.object({ unit: z.enum(["celsius", "fahrenheit"]) }),
    });
    const chat = new ChatOpenAI({ model: "default", apiKey: running!.apiKey, maxTokens: TOOL_TOKENS, maxRetries: 0, configuration: { baseURL: running!.baseURL } });
    const answer = await chat.bindTools([weather], { tool_choice: "required" }).invoke("Weather?");
    expect(answer.tool_calls).toHaveLength(1);
    expect(answer.tool_calls![0]!.name).toBe("get_weather");
    expect(["celsius", "fahrenheit"]).toContain(answer.tool_calls![0]!.args.unit);
  });
});

describe("the AI SDK", () => {
  const provider = () => createOpenAI({ baseURL: running!.baseURL, apiKey: running!.apiKey });

  it("embeds", async () => {
    const { embedding, usage } = await embed({ model: provider().embedding(EMBEDDING_MODEL), value: "alpha", maxRetries: 0 });
    expect(embedding.length).toBeGreaterThan(0);
    expect(usage.tokens).toBeGreaterThan(0);
  });

  it("generates text with a tool", async () => {
    let executed: string | null = null;
    const result = await generateText({
      model: provider().chat("default"),
      prompt: "Weather?",
      maxOutputTokens: TOOL_TOKENS,
      maxRetries: 0,
      toolChoice: "required",
      tools: {
        get_weather: tool({
          description: "The weather",
          inputSchema: z.object({ unit: z.enum(["celsius", "fahrenheit"]) }),
          execute: async ({ unit }) => {
            executed = unit;
            return `21 ${unit}`;
          },
        }),
      },
    });
    expect(result.toolCalls).toHaveLength(1);
    expect(["celsius", "fahrenheit"]).toContain(executed);
    expect(result.toolResults[0]?.output).toBe(`21 ${executed}`);
  });
});
