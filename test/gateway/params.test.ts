// Chat parameters through the official openai client (inside workerd, against the real Worker):
// known fields validated, unknown ones passed through to OpenAI-compatible upstreams and dropped
// (and named in x-edgeclaw-dropped-params) for Anthropic, the route's drop_params/strict_params,
// did-you-mean 400s, reasoning_effort -> Anthropic thinking, and the bounds on what passes.
// Assertions are on what the fake upstream recorded, so "reached the upstream" is observed.
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { chatCompletionRequest } from "../../schema/openai.ts";
import { droppedParams, mapRequest } from "../../workers/router/providers/map-request.ts";
import { workersAi } from "../../workers/router/providers/workers-ai.ts";
import { makeRouterTenant, setConfig, type RouterTenant } from "../router/helpers.ts";
import { chat, openaiClient, recordedUpstreamRequest, uid } from "./helpers.ts";

const fake = { type: "target", provider: "fake", model: "fake-echo" };
const claude = { type: "target", provider: "claude", model: "claude-test" };

let t: RouterTenant;
let client: OpenAI;

beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, {
    routes: {
      open: { tree: fake },
      claude: { tree: claude },
      "claude-keep": { tree: claude, drop_params: false },
      "claude-or-open": { tree: { type: "fallback", children: [{ ...claude, id: "a" }, { ...fake, id: "b" }] }, drop_params: false },
      strict: { tree: fake, strict_params: true },
      "claude-cached": { tree: claude, cache: { ttl_s: 300 } },
    },
  });
  client = openaiClient(t.key);
});

const user = [{ role: "user" as const, content: "hello" }];

// Fields the SDK does not type (what Python's extra_body carries): the Node SDK sends whatever
// the params object holds.
type Loose = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & Record<string, unknown>;

async function send(params: Loose) {
  const requestId = uid("req-params");
  const { data, response } = await client.chat.completions.create(params, { headers: { "x-request-id": requestId } }).withResponse();
  return { data, headers: response.headers, seen: (await recordedUpstreamRequest(requestId)).body };
}

async function refusal(params: Record<string, unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const err = await client.chat.completions.create(params as unknown as Loose).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OpenAI.APIError);
  return err as InstanceType<typeof OpenAI.APIError>;
}

describe("OpenAI-compatible upstreams get every parameter as sent", () => {
  it("passes reasoning_effort, the extra_body sampling fields and unknown fields unchanged", async () => {
    const extras = {
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      chat_template_kwargs: { enable_thinking: false },
      guided_json: { type: "object", properties: { a: { type: "string" } } },
      top_a: 0.2,
    };
    const { data, headers, seen } = await send({
      model: "open",
      messages: user,
      reasoning_effort: "low",
      service_tier: "flex",
      verbosity: "low",
      prompt_cache_key: "tenant-cache-1",
      safety_identifier: "user-hash-1",
      ...extras,
    });
    expect(data.choices[0]?.message.content).toBe("echo: hello");
    expect(seen).toMatchObject({ model: "fake-echo", reasoning_effort: "low", service_tier: "flex", verbosity: "low", prompt_cache_key: "tenant-cache-1", safety_identifier: "user-hash-1", ...extras });
    expect(headers.get("x-edgeclaw-dropped-params")).toBeNull();
  });

  it("passes custom tools, allowed_tools and legacy functions as sent", async () => {
    const tools: OpenAI.Chat.ChatCompletionTool[] = [
      { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } },
      { type: "custom", custom: { name: "run_sql", format: { type: "grammar", grammar: { syntax: "lark", definition: "start: /SELECT .+/" } } } },
    ];
    const tool_choice: OpenAI.Chat.ChatCompletionToolChoiceOption = { type: "allowed_tools", allowed_tools: { mode: "auto", tools: [{ type: "function", function: { name: "get_weather" } }] } };
    const { seen } = await send({ model: "open", messages: user, tools, tool_choice });
    expect(seen.tools).toEqual(tools);
    expect(seen.tool_choice).toEqual(tool_choice);

    const functions = [{ name: "lookup", parameters: { type: "object", properties: {} } }];
    const legacy = await send({ model: "open", messages: user, functions, function_call: { name: "lookup" } });
    expect(legacy.seen).toMatchObject({ functions, function_call: { name: "lookup" } });
  });

  it("still validates known fields: a bad reasoning_effort or top_k is a 400", async () => {
    const effort = await refusal({ model: "open", messages: user, reasoning_effort: "extreme" });
    expect(effort.status).toBe(400);
    expect(effort.param).toBe("reasoning_effort");
    const topK = await refusal({ model: "open", messages: user, top_k: 1.5 });
    expect(topK.status).toBe(400);
    expect(topK.param).toBe("top_k");
  });
});

describe("Anthropic upstreams: translated, or dropped and named", () => {
  it("drops what Messages cannot carry (unknown fields too) and names it in x-edgeclaw-dropped-params", async () => {
    const { headers, seen } = await send({ model: "claude", messages: user, seed: 7, top_k: 20, min_p: 0.1, chat_template_kwargs: { enable_thinking: true }, logit_bias: { "50256": -100 } });
    expect(headers.get("x-edgeclaw-dropped-params")).toBe("chat_template_kwargs,logit_bias,min_p,seed");
    expect(seen.top_k).toBe(20);
    for (const gone of ["seed", "min_p", "chat_template_kwargs", "logit_bias"]) expect(seen).not.toHaveProperty(gone);
    expect(seen.max_tokens).toBe(4096);
  });

  it("translates reasoning_effort to a thinking budget that fits max_tokens, and drops temperature with it", async () => {
    const high = await send({ model: "claude", messages: user, reasoning_effort: "high" });
    expect(high.seen.thinking).toEqual({ type: "enabled", budget_tokens: 8192 });
    expect(high.seen.max_tokens).toBe(8192 + 4096);
    expect(high.headers.get("x-edgeclaw-dropped-params")).toBeNull();

    // The client's max_completion_tokens is the whole limit: thinking gets at most half of it.
    const capped = await send({ model: "claude", messages: user, reasoning_effort: "high", max_completion_tokens: 6000, temperature: 0.3, top_p: 0.9 });
    expect(capped.seen.thinking).toEqual({ type: "enabled", budget_tokens: 3000 });
    expect(capped.seen.max_tokens).toBe(6000);
    expect(capped.seen).not.toHaveProperty("temperature");
    expect(capped.seen).not.toHaveProperty("top_p");
    expect(capped.headers.get("x-edgeclaw-dropped-params")).toBe("temperature,top_p");

    // Half of 1,500 is under Anthropic's 1,024-token minimum: no thinking, and it says so.
    const small = await send({ model: "claude", messages: user, reasoning_effort: "low", max_tokens: 1500, temperature: 0.3 });
    expect(small.seen).not.toHaveProperty("thinking");
    expect(small.seen).toMatchObject({ max_tokens: 1500, temperature: 0.3 });
    expect(small.headers.get("x-edgeclaw-dropped-params")).toBe("reasoning_effort");

    const none = await send({ model: "claude", messages: user, reasoning_effort: "none" });
    expect(none.seen).not.toHaveProperty("thinking");
    expect(none.headers.get("x-edgeclaw-dropped-params")).toBeNull();
  });

  it("translates legacy functions, allowed_tools and parallel_tool_calls into Anthropic tools and tool_choice", async () => {
    const legacy = await send({
      model: "claude",
      messages: user,
      functions: [{ name: "get_weather", description: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
      function_call: { name: "get_weather" },
    });
    expect(legacy.seen.tools).toEqual([{ name: "get_weather", description: "weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }]);
    expect(legacy.seen.tool_choice).toEqual({ type: "tool", name: "get_weather" });
    // ...and the tool_use comes back in the legacy dialect the client spoke (legacy-functions.ts).
    expect(legacy.data.choices[0]?.message.function_call).toMatchObject({ name: "get_weather" });

    const fn = (name: string) => ({ type: "function" as const, function: { name, parameters: { type: "object", properties: {} } } });
    const allowed = await send({
      model: "claude",
      messages: user,
      tools: [fn("get_weather"), fn("get_time"), { type: "custom", custom: { name: "free_text" } }],
      tool_choice: { type: "allowed_tools", allowed_tools: { mode: "required", tools: [{ type: "function", function: { name: "get_time" } }] } },
      parallel_tool_calls: false,
    });
    expect(allowed.seen.tools).toEqual([{ name: "get_time", input_schema: { type: "object", properties: {} } }]);
    expect(allowed.seen.tool_choice).toEqual({ type: "any", disable_parallel_tool_use: true });
    // The custom tool has no Anthropic equivalent.
    expect(allowed.headers.get("x-edgeclaw-dropped-params")).toBe("tools");
  });

  it("names the dropped parameters on a cache hit too", async () => {
    const body = { model: "claude-cached", messages: [{ role: "user", content: uid("cached") }], temperature: 0, seed: 1, vendor_flag: true };
    const miss = await chat(t.key, body);
    expect(miss.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
    expect(miss.headers.get("x-edgeclaw-dropped-params")).toBe("seed,vendor_flag");
    const hit = await chat(t.key, body);
    expect(hit.headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    expect(hit.headers.get("x-edgeclaw-dropped-params")).toBe("seed,vendor_flag");
  });

  it("sends max_completion_tokens as max_tokens, and user or safety_identifier as metadata.user_id", async () => {
    const { seen } = await send({ model: "claude", messages: user, max_completion_tokens: 321, safety_identifier: "hash-9" });
    expect(seen.max_tokens).toBe(321);
    expect(seen.metadata).toEqual({ user_id: "hash-9" });
    expect(seen).not.toHaveProperty("max_completion_tokens");
  });
});

describe("per-route drop_params and strict_params", () => {
  it("drop_params: false refuses a target that would drop something, with a 400 naming it", async () => {
    const err = await refusal({ model: "claude-keep", messages: user, seed: 1, min_p: 0.1 });
    expect(err.status).toBe(400);
    expect(err.code).toBe("unsupported_parameter");
    expect(err.param).toBe("min_p");
    expect(err.message).toContain("cannot carry 'min_p', 'seed'");
    // Nothing to drop: served.
    const ok = await send({ model: "claude-keep", messages: user, top_k: 5 });
    expect(ok.seen.top_k).toBe(5);
  });

  it("drop_params: false falls over to a sibling that can carry the parameters", async () => {
    const carried = await send({ model: "claude-or-open", messages: user, seed: 3 });
    expect(carried.headers.get("x-edgeclaw-provider")).toBe("fake");
    expect(carried.headers.get("x-edgeclaw-fallback-reason")).toBe("claude-or-open/a:unsupported_parameter");
    expect(carried.seen.seed).toBe(3);
    const plain = await send({ model: "claude-or-open", messages: user });
    expect(plain.headers.get("x-edgeclaw-provider")).toBe("claude");
  });

  it("strict_params: true answers unknown fields with a 400, known ones pass", async () => {
    const err = await refusal({ model: "strict", messages: user, chat_template_kwargs: { enable_thinking: false } });
    expect(err.status).toBe(400);
    expect(err.code).toBe("unknown_parameter");
    expect(err.param).toBe("chat_template_kwargs");
    const ok = await send({ model: "strict", messages: user, top_k: 3, reasoning_effort: "minimal" });
    expect(ok.seen).toMatchObject({ top_k: 3, reasoning_effort: "minimal" });
  });

  it("a config-wide strict_params applies to the catalog's implicit routes", async () => {
    const own = await makeRouterTenant();
    await setConfig(own, { strict_params: true, routes: {} });
    const res = await chat(own.key, { model: "fake-echo", ...{ messages: user }, custom_field: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "unknown_parameter", param: "custom_field" });
  });
});

describe("misspelt known fields", () => {
  it.each([
    ["max_token", 5, "max_tokens"],
    ["temprature", 0.2, "temperature"],
    ["top-p", 0.5, "top_p"],
    ["maxTokens", 5, "max_tokens"],
    ["frequence_penalty", 0.1, "frequency_penalty"],
    ["reasoning-effort", "low", "reasoning_effort"],
  ])("%s is a 400 that suggests %s", async (field, value, meant) => {
    const err = await refusal({ model: "open", messages: user, [field]: value });
    expect(err.status).toBe(400);
    expect(err.code).toBe("unknown_parameter");
    expect(err.param).toBe(field);
    expect(err.message).toContain(`Did you mean '${meant}'?`);
  });
});

describe("bounds on passed-through fields", () => {
  it("refuses too many values, deep nesting, too many fields and odd names with a 400", async () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const many: Record<string, number> = {};
    for (let i = 0; i < 40; i++) many[`custom_${i}`] = i;
    const cases: [string, Record<string, unknown>, string][] = [
      ["values", { vendor_options: new Array(3000).fill(0) }, "holds more than 2000 values"],
      ["deep", { vendor_options: deep }, "nests deeper than 16 levels"],
      ["many", many, "40 unrecognized top-level fields"],
      ["name", { "not a name": 1 }, "is not a parameter name"],
    ];
    for (const [what, extra, says] of cases) {
      const res = await chat(t.key, { model: "open", messages: user, ...extra });
      expect(res.status, what).toBe(400);
      expect(res.body.error.type, what).toBe("invalid_request_error");
      expect(res.body.error.message, what).toContain(says);
    }
  });

  it("a 10,000-key field: the request body limit answers 413 first; the parameter bound refuses it too", async () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) wide[`k${i}`] = i;
    // The test deployment accepts 64 KiB bodies (MAX_REQUEST_BYTES); this one is larger.
    const res = await chat(t.key, { model: "open", messages: user, vendor_options: wide });
    expect(res.status).toBe(413);
    // A deployment with a larger body limit reaches the parameter bound (the same schema).
    const parsed = chatCompletionRequest.safeParse({ model: "open", messages: user, vendor_options: wide });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toContain("holds more than 2000 values");
    const blob = chatCompletionRequest.safeParse({ model: "open", messages: user, vendor_blob: "x".repeat(70 * 1024) });
    expect(blob.error?.issues[0]?.message).toContain("at most 65536 are passed through");
  });
});

describe("Workers AI parameter map", () => {
  it("carries top_k and repetition_penalty, drops min_p, tool_choice and unknown fields", () => {
    const request = chatCompletionRequest.parse({
      model: "m",
      messages: user,
      top_k: 10,
      repetition_penalty: 1.2,
      min_p: 0.1,
      max_completion_tokens: 99,
      tool_choice: "auto",
      functions: [{ name: "f" }],
      vendor_flag: true,
      temperature: null,
    });
    const ctx = { request, target: { baseUrl: "", model: "@cf/meta/llama", credential: undefined } };
    expect(mapRequest(workersAi, ctx)).toEqual({
      messages: user,
      top_k: 10,
      repetition_penalty: 1.2,
      max_tokens: 99,
      tools: [{ type: "function", function: { name: "f" } }],
    });
    expect(droppedParams(workersAi, ctx)).toEqual(["min_p", "tool_choice", "vendor_flag"].sort());
  });
});
