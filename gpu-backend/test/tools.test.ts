// Function calling through the official client: forced calls (tool_choice "required" and named)
// are grammar-constrained, so even the random-weight model answers calls whose arguments parse and
// validate against the declared schema; streams assemble to the same; tool history is accepted.
import type OpenAI from "openai";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "2", CONTEXT_SIZE: "2048" });
});
afterAll(() => b?.close());

// Small schemas with bounded values (enums, short strings, booleans, small integers), so every
// answer fits in a short max_tokens even though random weights pick the values.
const TOOLS: OpenAI.Chat.Completions.ChatCompletionFunctionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather for a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", minLength: 1, maxLength: 8 }, unit: { type: "string", enum: ["c", "f"] } },
        required: ["city", "unit"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "set_alarm",
      parameters: {
        type: "object",
        properties: { on: { type: "boolean" }, label: { type: "string", maxLength: 6 }, repeat: { type: "string", enum: ["daily", "weekly"] } },
        required: ["on", "repeat"],
        additionalProperties: false,
      },
    },
  },
  { type: "function", function: { name: "ping" } },
];

const validators = new Map(
  TOOLS.map((t) => [t.function.name, z.fromJSONSchema((t.function.parameters ?? { type: "object", properties: {}, additionalProperties: false }) as never)]),
);

/** Every call names a declared tool and its arguments are JSON valid against that tool's schema. */
function expectValidCalls(calls: readonly { id?: string; type?: string; function?: { name?: string; arguments?: string } }[] | undefined) {
  expect(calls?.length).toBeGreaterThan(0);
  for (const call of calls!) {
    expect(call.type).toBe("function");
    expect(call.id).toMatch(/^call_/);
    const schema = validators.get(call.function!.name!);
    expect(schema, `unknown tool ${call.function?.name}`).toBeDefined();
    const args = JSON.parse(call.function!.arguments!);
    const check = schema!.safeParse(args);
    expect(check.success, `${call.function!.name}(${call.function!.arguments}): ${check.error?.message}`).toBe(true);
  }
}

const words = ["weather", "alarm", "ping", "paris", "tomorrow", "7am", "please", "now", "quick", "why"];
const randomPrompt = (i: number) => Array.from({ length: 1 + (i % 5) }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ") + ` #${i}`;

describe("tool_choice required and named", () => {
  it("answers 100 random prompts with valid calls (required, one call each)", { timeout: 120_000 }, async () => {
    const invalid: string[] = [];
    for (let i = 0; i < 100; i++) {
      const r = await b.client.chat.completions.create({
        model: "tiny", messages: user(randomPrompt(i)), tools: TOOLS, tool_choice: "required", parallel_tool_calls: false,
        max_tokens: 120, temperature: 1, seed: i,
      });
      const choice = r.choices[0]!;
      try {
        expect(choice.finish_reason).toBe("tool_calls");
        expect(choice.message.tool_calls).toHaveLength(1);
        expectValidCalls(choice.message.tool_calls as never);
      } catch (e) {
        invalid.push(`#${i}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  it("calls the named function with valid arguments", async () => {
    for (const name of ["set_alarm", "get_weather", "ping"]) {
      const r = await b.client.chat.completions.create({
        model: "tiny", messages: user(`use ${name}`), tools: TOOLS, tool_choice: { type: "function", function: { name } }, max_tokens: 120, temperature: 1, seed: 5,
      });
      expect(r.choices[0]!.finish_reason).toBe("tool_calls");
      expect(r.choices[0]!.message.content).toBeNull();
      const calls = r.choices[0]!.message.tool_calls!;
      expect(calls.map((c) => c.type === "function" && c.function.name)).toEqual([name]);
      expectValidCalls(calls as never);
    }
  });

  it("allows up to 8 parallel calls under required, each valid, with distinct ids", async () => {
    // Random weights decide how many calls an answer holds (in practice one); the grammar bounds it.
    for (let seed = 0; seed < 3; seed++) {
      const r = await b.client.chat.completions.create({ model: "tiny", messages: user("do all of it"), tools: TOOLS, tool_choice: "required", max_tokens: 300, temperature: 1, seed });
      const calls = r.choices[0]!.message.tool_calls!;
      expectValidCalls(calls as never);
      expect(calls.length).toBeLessThanOrEqual(8);
      expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
    }
  });

  it("streams tool-call deltas that assemble to the same calls as the non-stream answer", async () => {
    for (const tool_choice of ["required", { type: "function", function: { name: "get_weather" } }] as const) {
      const ask = { model: "tiny", messages: user("stream a call"), tools: TOOLS, tool_choice, parallel_tool_calls: false, max_tokens: 120, temperature: 0.8, seed: 11 };
      const whole = await b.client.chat.completions.create(ask);
      const stream = await b.client.chat.completions.create({ ...ask, stream: true });
      const calls: { id?: string; type?: string; function: { name?: string; arguments: string } }[] = [];
      const finishes: (string | null)[] = [];
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (choice.finish_reason) finishes.push(choice.finish_reason);
        for (const d of choice.delta.tool_calls ?? []) {
          calls[d.index] ??= { function: { arguments: "" } };
          const c = calls[d.index]!;
          if (d.id) c.id = d.id;
          if (d.type) c.type = d.type;
          if (d.function?.name) c.function.name = d.function.name;
          c.function.arguments += d.function?.arguments ?? "";
        }
      }
      expect(finishes).toEqual(["tool_calls"]);
      expectValidCalls(calls);
      const expected = whole.choices[0]!.message.tool_calls!.map((c) => c.type === "function" && { name: c.function.name, args: JSON.parse(c.function.arguments) });
      expect(calls.map((c) => ({ name: c.function.name, args: JSON.parse(c.function.arguments) }))).toEqual(expected);
    }
  });
});

describe("tool_choice auto and none, and tool history", () => {
  it("auto answers either text or valid calls", async () => {
    for (let seed = 0; seed < 3; seed++) {
      const r = await b.client.chat.completions.create({ model: "tiny", messages: user("maybe call"), tools: TOOLS, tool_choice: "auto", max_tokens: 40, temperature: 1, seed });
      const choice = r.choices[0]!;
      if (choice.message.tool_calls?.length) {
        expect(choice.finish_reason).toBe("tool_calls");
        expectValidCalls(choice.message.tool_calls as never);
      } else {
        expect(["stop", "length"]).toContain(choice.finish_reason);
        expect(typeof choice.message.content).toBe("string");
      }
    }
  });

  it("none answers text, and renders the tools in the prompt only when they may be called", async () => {
    const none = await b.client.chat.completions.create({ model: "tiny", messages: user("hi"), tools: TOOLS, tool_choice: "none", max_tokens: 5 });
    expect(none.choices[0]!.message.tool_calls).toBeUndefined();
    expect(none.choices[0]!.finish_reason).toBe("length");
    const plain = await b.client.chat.completions.create({ model: "tiny", messages: user("hi"), max_tokens: 5 });
    expect(none.usage!.prompt_tokens).toBe(plain.usage!.prompt_tokens);
    const auto = await b.client.chat.completions.create({ model: "tiny", messages: user("hi"), tools: TOOLS, max_tokens: 5 });
    expect(auto.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens + 50);
  });

  it("accepts assistant tool_calls and tool results in the history, and counts them in the prompt", async () => {
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: "user", content: "weather in paris?" },
      { role: "assistant", content: null, tool_calls: [
        { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"paris","unit":"c"}' } },
        { id: "call_2", type: "function", function: { name: "ping", arguments: "{}" } },
      ] },
      { role: "tool", tool_call_id: "call_1", content: "sunny, 21 degrees and a long explanation of the weather" },
      { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "pong" }] },
    ];
    const r = await b.client.chat.completions.create({ model: "tiny", messages: history, tools: TOOLS, tool_choice: "none", max_tokens: 4 });
    expect(r.choices[0]!.finish_reason).toBe("length");
    const without = await b.client.chat.completions.create({ model: "tiny", messages: history.slice(0, 1), max_tokens: 4 });
    expect(r.usage!.prompt_tokens).toBeGreaterThan(without.usage!.prompt_tokens + 30);
  });
});

describe("tool errors (400, never 5xx)", () => {
  const post = (body: unknown) => fetch(`${b.base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const ok = { model: "tiny", messages: user("hi"), max_tokens: 2 };
  it.each([
    [{ ...ok, tool_choice: "required" }, "tool_choice"],
    [{ ...ok, tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice.function.name"],
    [{ ...ok, tools: [TOOLS[0], TOOLS[0]] }, "tools[1].function.name"],
    [{ ...ok, tools: [{ type: "function", function: { name: "bad name!" } }] }, "tools[0].function.name"],
    [{ ...ok, tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "nope" } } } } }] }, "tools[0].function.parameters.properties.a.type"],
    [{ ...ok, messages: [{ role: "tool", content: "x", tool_call_id: "1" }] }, "messages[0].tool_call_id"],
    [{ ...ok, messages: [{ role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "{" } }] }] }, "messages[0].tool_calls[0].function.arguments"],
    [{ ...ok, messages: [{ role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "{}" } }] }, { role: "user", content: "x" }] }, "messages[0].tool_calls[0]"],
    [{ ...ok, tools: TOOLS, response_format: { type: "json_object" } }, "response_format"],
  ])("%j names %s", async (body, param) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const err = ((await res.json()) as { error: { param: string; message: string } }).error;
    expect(err.param).toBe(param);
    expect(err.message.length).toBeGreaterThan(5);
  });
});
