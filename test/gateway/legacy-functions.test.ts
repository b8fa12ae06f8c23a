// Legacy function calling (`functions` / `function_call`, no `tools`) answered in its own dialect
// whatever the upstream answered: an Anthropic upstream (functions translated to tools, its
// tool_use translated back) and an OpenAI-compatible server that answers tool_calls both come
// back as message.function_call / delta.function_call with finish_reason "function_call".
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { makeRouterTenant, setConfig, type RouterTenant } from "../router/helpers.ts";
import { openaiClient } from "./helpers.ts";

let t: RouterTenant;
let client: OpenAI;

beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, { routes: { claude: { tree: { type: "target", provider: "claude", model: "claude-test" } } } });
  client = openaiClient(t.key);
});

const functions = [{ name: "get_weather", description: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } }];
const messages = [{ role: "user" as const, content: "Weather in Paris?" }];

describe("legacy functions", () => {
  for (const model of ["claude", "fake-tools"]) {
    it(`answers ${model} with message.function_call`, async () => {
      const answer = await client.chat.completions.create({ model, messages, functions, function_call: "auto" });
      const choice = answer.choices[0]!;
      expect(choice.finish_reason).toBe("function_call");
      expect(choice.message.function_call).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
      expect(choice.message.tool_calls).toBeUndefined();
    });

    it(`streams ${model} as delta.function_call`, async () => {
      const stream = await client.chat.completions.create({ model, messages, functions, stream: true });
      let name = "";
      let args = "";
      const finishes: string[] = [];
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice) continue;
        expect(choice.delta.tool_calls).toBeUndefined();
        name += choice.delta.function_call?.name ?? "";
        args += choice.delta.function_call?.arguments ?? "";
        if (choice.finish_reason) finishes.push(choice.finish_reason);
      }
      expect(name).toBe("get_weather");
      expect(JSON.parse(args)).toEqual({ city: "Paris" });
      expect(finishes).toEqual(["function_call"]);
    });
  }

  it("leaves a tools request's tool_calls alone", async () => {
    const answer = await client.chat.completions.create({ model: "fake-tools", messages, tools: [{ type: "function", function: functions[0]! }] });
    expect(answer.choices[0]!.finish_reason).toBe("tool_calls");
    expect(answer.choices[0]!.message.tool_calls?.[0]).toMatchObject({ type: "function", function: { name: "get_weather" } });
  });
});
