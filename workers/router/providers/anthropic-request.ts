// The request half of the Anthropic adapter: OpenAI chat parameters -> Messages API fields.
//   translated  system/developer messages -> `system`; tools, legacy functions and custom-free
//               tool lists -> tools; tool_choice / function_call -> tool_choice (allowed_tools
//               narrows the list, parallel_tool_calls: false -> disable_parallel_tool_use);
//               stop -> stop_sequences; user / safety_identifier -> metadata.user_id;
//               max_completion_tokens / max_tokens -> max_tokens (required: DEFAULT_MAX_TOKENS
//               when the client gives none); reasoning_effort -> thinking.budget_tokens;
//               service_tier auto/default -> auto/standard_only; temperature clamped to 0-1
//   dropped     (named in x-edgeclaw-dropped-params) what Messages has no field for: seed,
//               penalties, logit_bias, logprobs, response_format json modes, OpenAI-only
//               features (verbosity, prompt caching hints, audio, prediction, web search,
//               moderation, stored completions), custom tools, vLLM sampling fields other
//               than top_k, and every field the gateway does not know
//   absorbed    n (always 1 here), stream_options (usage is always streamed), text formats
import { nativeAnthropicBody } from "../../../schema/anthropic.ts";
import type { ReasoningEffort } from "../../../schema/openai.ts";
import type { MapContext, ParamMap, ParamRule } from "./types.ts";

export const DEFAULT_MAX_TOKENS = 4096;

type Request = MapContext["request"];
type OpenAiMessage = {
  role: string;
  content?: unknown;
  name?: string;
  tool_calls?: ({ id: string; type: "function"; function: { name: string; arguments: string } } | { id: string; type: "custom"; custom: { name: string; input: string } })[];
  function_call?: { name: string; arguments: string } | null;
  tool_call_id?: string;
};
type Block = Record<string, unknown>;
type FunctionDef = { name: string; description?: string; parameters?: unknown };
type Tool = { type: "function"; function: FunctionDef } | { type: "custom"; custom: { name: string } };

// Thinking budgets per OpenAI effort. Anthropic's minimum budget is 1,024 tokens; each level
// doubles the last, up to "max" (32k, where Anthropic recommends batch processing instead).
const THINKING_BUDGETS: Record<Exclude<ReasoningEffort, "none">, number> = {
  minimal: 1024,
  low: 2048,
  medium: 4096,
  high: 8192,
  xhigh: 16_384,
  max: 32_000,
};
const MIN_THINKING_BUDGET = 1024;

const askedMaxTokens = (r: Request): number | null => r.max_completion_tokens ?? r.max_tokens ?? null;

// Whether the request forces a tool call (Anthropic refuses tool_choice any/tool with thinking).
function forcesTool(r: Request): boolean {
  const choice = r.tool_choice;
  if (choice === "required") return true;
  if (typeof choice === "object" && choice !== null) return choice.type !== "allowed_tools" || choice.allowed_tools.mode === "required";
  return typeof r.function_call === "object" && r.function_call !== null;
}

// The thinking this request gets on Anthropic, or null (and then reasoning_effort is dropped).
// max_tokens counts thinking and answer alike there, as OpenAI's max_completion_tokens counts
// reasoning tokens, so the client's limit is kept: thinking gets at most half of it (the answer
// keeps room), and none when that half is under Anthropic's minimum. Without a client limit the
// answer gets DEFAULT_MAX_TOKENS on top of the budget. A forced tool call wins over thinking.
export function thinkingOf(r: Request): { budget: number; maxTokens: number } | null {
  const effort = r.reasoning_effort;
  if (effort == null || effort === "none" || forcesTool(r)) return null;
  const budget = THINKING_BUDGETS[effort];
  const asked = askedMaxTokens(r);
  if (asked === null) return { budget, maxTokens: budget + DEFAULT_MAX_TOKENS };
  const fitted = Math.min(budget, Math.floor(asked / 2));
  return fitted >= MIN_THINKING_BUDGET ? { budget: fitted, maxTokens: asked } : null;
}

const thinking = (ctx: MapContext) => thinkingOf(ctx.request) !== null;
const dropped = null;
// Needs nothing upstream.
const absorbed: ParamRule = { to: "", transform: () => undefined };
const customTool = (t: unknown) => (t as Tool).type === "custom";

function anthropicTools(tools: Tool[]): Block[] {
  return tools.flatMap((t) =>
    t.type === "function"
      ? [{ name: t.function.name, ...(t.function.description ? { description: t.function.description } : {}), input_schema: t.function.parameters ?? { type: "object", properties: {} } }]
      : [],
  );
}

export const params: ParamMap = {
  model: { to: "model", transform: (_v, { target }) => target.model },
  messages: { to: "messages" },
  tools: { to: "tools", transform: (tools) => anthropicTools(tools as Tool[]), drops: (tools) => (tools as Tool[]).every(customTool), partly: (tools) => (tools as Tool[]).some(customTool) },
  tool_choice: {
    to: "tool_choice",
    transform: (choice) => {
      if (choice === "auto") return { type: "auto" };
      if (choice === "required") return { type: "any" };
      if (choice === "none") return { type: "none" };
      const c = choice as { type: string; function?: { name: string }; allowed_tools?: { mode: string } };
      if (c.type === "allowed_tools") return { type: c.allowed_tools?.mode === "required" ? "any" : "auto" };
      return { type: "tool", name: c.function?.name };
    },
    drops: (choice) => (choice as { type?: string }).type === "custom",
  },
  // -> tool_choice.disable_parallel_tool_use (finalizeBody).
  parallel_tool_calls: { to: "parallel_tool_calls" },
  // Legacy function calling: the same tools (merged in finalizeBody).
  functions: { to: "functions" },
  function_call: {
    to: "function_call",
    transform: (fc) => (fc === "none" ? { type: "none" } : fc === "auto" ? { type: "auto" } : { type: "tool", name: (fc as { name: string }).name }),
  },
  // Anthropic's range is 0-1 where OpenAI's is 0-2; with thinking only the default is allowed.
  temperature: { to: "temperature", transform: (v) => Math.min(1, v as number), drops: (v, ctx) => thinking(ctx) && v !== 1 },
  top_p: { to: "top_p", drops: (v, ctx) => thinking(ctx) && (v as number) < 0.95 },
  top_k: { to: "top_k", drops: (v, ctx) => thinking(ctx) && (v as number) > 0 },
  max_tokens: { to: "max_tokens" },
  max_completion_tokens: { to: "max_tokens" },
  stop: { to: "stop_sequences", transform: (v) => (typeof v === "string" ? [v] : v) },
  seed: dropped,
  response_format: { to: "", transform: () => undefined, drops: (v) => (v as { type: string }).type !== "text" },
  stream: { to: "stream" },
  stream_options: absorbed,
  user: { to: "metadata", transform: (v) => ({ user_id: v }) },
  safety_identifier: { to: "metadata", transform: (v, ctx) => (ctx.request.user ? undefined : { user_id: v }) },
  n: absorbed,
  presence_penalty: dropped,
  frequency_penalty: dropped,
  logit_bias: dropped,
  logprobs: { to: "", transform: () => undefined, drops: (v) => v === true },
  top_logprobs: dropped,
  metadata: dropped,
  store: { to: "", transform: () => undefined, drops: (v) => v === true },
  reasoning_effort: {
    to: "thinking",
    transform: (_v, ctx) => {
      const t = thinkingOf(ctx.request);
      return t ? { type: "enabled", budget_tokens: t.budget } : undefined;
    },
    drops: (v, ctx) => v !== "none" && !thinking(ctx),
  },
  service_tier: { to: "service_tier", transform: (v) => (v === "auto" ? "auto" : "standard_only"), drops: (v) => v !== "auto" && v !== "default" },
  verbosity: dropped,
  prompt_cache_key: dropped,
  prompt_cache_retention: dropped,
  prompt_cache_options: dropped,
  modalities: { to: "", transform: () => undefined, drops: (v) => (v as string[]).includes("audio") },
  audio: dropped,
  prediction: dropped,
  web_search_options: dropped,
  moderation: dropped,
  min_p: dropped,
  repetition_penalty: dropped,
  min_tokens: dropped,
};

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p: { text?: string }) => p.text ?? "").join("");
  return "";
}

function userBlocks(content: unknown): Block[] | string {
  if (typeof content === "string") return content;
  return (content as { type: string; text?: string; image_url?: { url: string } }[]).flatMap((part): Block[] => {
    if (part.type === "text") return [{ type: "text", text: part.text ?? "" }];
    if (part.type === "image_url" && part.image_url) {
      const data = /^data:([^;]+);base64,(.*)$/s.exec(part.image_url.url);
      return [data ? { type: "image", source: { type: "base64", media_type: data[1], data: data[2] } } : { type: "image", source: { type: "url", url: part.image_url.url } }];
    }
    return [];
  });
}

function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

export function toAnthropicMessages(messages: OpenAiMessage[]): { system?: string; messages: Block[] } {
  const system: string[] = [];
  const out: { role: string; content: Block[] | string }[] = [];
  const push = (role: string, blocks: Block[]) => {
    const last = out[out.length - 1];
    // Consecutive turns of one role (several tool results) are merged, as the API expects.
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  // Legacy function calls carry no ids: each gets one, and the next result of that function
  // answers it.
  const openCalls = new Map<string, string[]>();
  let legacy = 0;
  for (const m of messages) {
    if (m.role === "system" || m.role === "developer") system.push(textOf(m.content));
    else if (m.role === "user") {
      const blocks = userBlocks(m.content);
      push("user", typeof blocks === "string" ? [{ type: "text", text: blocks }] : blocks);
    } else if (m.role === "assistant") {
      const blocks: Block[] = [];
      const text = textOf(m.content);
      if (text) blocks.push({ type: "text", text });
      for (const call of m.tool_calls ?? []) {
        blocks.push(
          call.type === "custom"
            ? { type: "tool_use", id: call.id, name: call.custom.name, input: { input: call.custom.input } }
            : { type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) },
        );
      }
      if (m.function_call) {
        const id = `toolu_legacy_${legacy++}`;
        openCalls.set(m.function_call.name, [...(openCalls.get(m.function_call.name) ?? []), id]);
        blocks.push({ type: "tool_use", id, name: m.function_call.name, input: parseArguments(m.function_call.arguments) });
      }
      push("assistant", blocks);
    } else if (m.role === "tool") {
      push("user", [{ type: "tool_result", tool_use_id: m.tool_call_id, content: textOf(m.content) }]);
    } else if (m.role === "function") {
      const id = openCalls.get(m.name ?? "")?.shift() ?? `toolu_legacy_${legacy++}`;
      push("user", [{ type: "tool_result", tool_use_id: id, content: textOf(m.content) }]);
    }
  }
  return { ...(system.length > 0 ? { system: system.join("\n\n") } : {}), messages: out };
}

// The mapped fields -> the Messages body: tools and legacy functions in one list (narrowed by
// allowed_tools), one tool_choice, max_tokens always set, the conversation split into system
// and messages.
export function finalizeBody(mapped: Record<string, unknown>, ctx: MapContext): Record<string, unknown> {
  const { messages, functions, function_call, parallel_tool_calls, tools, tool_choice, ...rest } = mapped as {
    messages: OpenAiMessage[];
    functions?: FunctionDef[];
    function_call?: Block;
    parallel_tool_calls?: boolean;
    tools?: Block[];
    tool_choice?: Block;
    max_tokens?: number;
  };
  let allTools = [...(tools ?? []), ...anthropicTools((functions ?? []).map((f) => ({ type: "function" as const, function: f })))];
  const choice = ctx.request.tool_choice;
  if (typeof choice === "object" && choice !== null && choice.type === "allowed_tools") {
    const allowed = new Set(
      choice.allowed_tools.tools.map((t) => {
        const named = t as { name?: unknown; function?: { name?: unknown } };
        return String(named.function?.name ?? named.name ?? "");
      }),
    );
    allTools = allTools.filter((t) => allowed.has(String(t.name)));
  }
  let finalChoice = tool_choice ?? function_call;
  if (parallel_tool_calls === false && allTools.length > 0) finalChoice = { ...(finalChoice ?? { type: "auto" }), disable_parallel_tool_use: true };
  const t = thinkingOf(ctx.request);
  return {
    ...rest,
    ...(allTools.length > 0 ? { tools: allTools } : {}),
    ...(finalChoice && allTools.length > 0 ? { tool_choice: finalChoice } : {}),
    max_tokens: t?.maxTokens ?? rest.max_tokens ?? DEFAULT_MAX_TOKENS,
    ...toAnthropicMessages(messages),
  };
}

// A Messages ingress request (workers/api/messages/) carries the client's own body: Anthropic gets
// exactly that (thinking signatures, cache_control, documents intact), with its model id.
export function nativeBody(ctx: MapContext): Record<string, unknown> | undefined {
  const native = nativeAnthropicBody(ctx.request);
  return native ? { ...native, model: ctx.target.model } : undefined;
}
