// Translates a validated OpenAI request into engine terms, refusing what this backend cannot honour
// with the offending parameter named.
import type { ChatModelFunctions, Llama, LlamaGrammar } from "node-llama-cpp";
import { grammarFor } from "../engine/grammars.ts";
import type { ChatMessage, GenerationParams, PastToolCall } from "../engine/loaded-model.ts";
import { chatFunctions, forcedCallSchema, type ToolSpec } from "../engine/tools.ts";
import { ApiError } from "./errors.ts";
import type { ChatCompletionRequest } from "./schema.ts";

type Messages = ChatCompletionRequest["messages"];

function textOf(m: Messages[number], i: number): string {
  const content = m.content ?? "";
  if (typeof content === "string") return content;
  return content
    .map((part, j) => {
      if (part.type !== "text" || typeof part.text !== "string") {
        throw new ApiError(400, `Content parts of type '${part.type}' are not supported by this model; only 'text'.`, "unsupported_value", `messages[${i}].content[${j}].type`);
      }
      return part.text;
    })
    .join("");
}

/**
 * OpenAI's history (assistant tool_calls, then one tool message per call id) as chat turns whose
 * calls carry their results, which is how node-llama-cpp's chat wrappers render them.
 */
export function toChatMessages(messages: Messages): ChatMessage[] {
  const out: ChatMessage[] = [];
  const open = new Map<string, { call: PastToolCall; at: string }>();
  messages.forEach((m, i) => {
    if (m.role === "tool") {
      const id = m.tool_call_id;
      const pending = id === undefined ? undefined : open.get(id);
      if (!pending) {
        throw new ApiError(400, "A tool message must answer a tool call id of an earlier assistant message that has no answer yet.", "invalid_value", `messages[${i}].tool_call_id`);
      }
      pending.call.result = textOf(m, i);
      open.delete(id!);
      return;
    }
    if (open.size > 0) {
      const [, first] = [...open][0]!;
      throw new ApiError(400, `Every tool call needs a tool message answering it before the next message (no answer for ${first.at}).`, "invalid_value", first.at);
    }
    const text = textOf(m, i);
    if (m.role !== "assistant") {
      // "developer" is OpenAI's newer name for the system role.
      out.push({ role: m.role === "developer" ? "system" : m.role, content: text });
      return;
    }
    const toolCalls = (m.tool_calls ?? []).map((c, j) => {
      let params: unknown;
      try {
        params = JSON.parse(c.function.arguments);
      } catch {
        throw new ApiError(400, "Tool call arguments must be a JSON text.", "invalid_value", `messages[${i}].tool_calls[${j}].function.arguments`);
      }
      const call: PastToolCall = { name: c.function.name, params, result: "" };
      if (open.has(c.id)) throw new ApiError(400, `Duplicate tool call id '${c.id}'.`, "invalid_value", `messages[${i}].tool_calls[${j}].id`);
      open.set(c.id, { call, at: `messages[${i}].tool_calls[${j}]` });
      return call;
    });
    out.push({ role: "assistant", content: text, toolCalls: toolCalls.length ? toolCalls : undefined });
  });
  if (open.size > 0) {
    const [, first] = [...open][0]!;
    throw new ApiError(400, `Every tool call needs a tool message answering it (no answer for ${first.at}).`, "invalid_value", first.at);
  }
  return out;
}

async function compile(llama: Llama, schema: object | undefined, param: string, what: string): Promise<LlamaGrammar> {
  try {
    return await grammarFor(llama, schema);
  } catch (e) {
    throw new ApiError(400, `Unsupported ${what}: ${e instanceof Error ? e.message : String(e)}`, "invalid_value", param);
  }
}

/** none: plain text. auto: LlamaChat's function calling. forced: a grammar makes the answer a call (see engine/tools.ts). */
export type ToolMode =
  | { kind: "none" }
  | { kind: "auto"; functions: ChatModelFunctions; parallel: boolean }
  | { kind: "forced"; functions: ChatModelFunctions; named?: string };

async function toolMode(body: ChatCompletionRequest, llama: Llama): Promise<{ mode: ToolMode; grammar?: LlamaGrammar }> {
  const tools: ToolSpec[] = (body.tools ?? []).map((t) => t.function);
  const choice = body.tool_choice ?? (tools.length ? "auto" : "none");
  if (tools.length === 0) {
    if (choice === "none" || choice === "auto") return { mode: { kind: "none" } };
    throw new ApiError(400, "tool_choice requires tools.", "invalid_value", "tool_choice");
  }
  const seen = new Set<string>();
  tools.forEach((t, i) => {
    if (seen.has(t.name)) throw new ApiError(400, `Two tools are named '${t.name}'.`, "invalid_value", `tools[${i}].function.name`);
    seen.add(t.name);
  });
  if (choice === "none") return { mode: { kind: "none" } };
  if (body.response_format && body.response_format.type !== "text") {
    throw new ApiError(400, "response_format cannot be combined with tools on this backend; use tool_choice 'none' or drop response_format.", "unsupported_value", "response_format");
  }
  // Every parameter schema must compile before the request may queue (LlamaChat compiles them mid-generation).
  for (const [i, t] of tools.entries()) await compile(llama, t.parameters ?? { type: "object", properties: {} }, `tools[${i}].function.parameters`, "parameters schema");
  const functions = chatFunctions(tools);
  const parallel = body.parallel_tool_calls !== false;
  if (choice === "auto") return { mode: { kind: "auto", functions, parallel } };
  const named = typeof choice === "object" ? choice.function.name : undefined;
  if (named !== undefined && !seen.has(named)) throw new ApiError(400, `tool_choice names '${named}', which is not in tools.`, "invalid_value", "tool_choice.function.name");
  const grammar = await compile(llama, forcedCallSchema(tools, named, parallel), "tools", "tools schema");
  return { mode: { kind: "forced", functions, named }, grammar };
}

export type TranslatedRequest = {
  messages: ChatMessage[];
  params: Omit<GenerationParams, "messages">;
  maxTokens?: number;
  stream: boolean;
  includeUsage: boolean;
  tools: ToolMode;
  /** Alternatives per token when logprobs were asked for (0: the chosen token's only). */
  topLogprobs?: number;
};

export async function translateRequest(body: ChatCompletionRequest, llama: Llama): Promise<TranslatedRequest> {
  if (body.n != null && body.n > 1) throw new ApiError(400, "n > 1 is not supported; send one request per choice.", "unsupported_value", "n");
  if (body.top_logprobs != null && body.logprobs !== true) throw new ApiError(400, "top_logprobs requires logprobs: true.", "invalid_value", "top_logprobs");
  const messages = toChatMessages(body.messages);
  const { mode, grammar: toolGrammar } = await toolMode(body, llama);
  const format = body.response_format;
  const grammar = toolGrammar ?? (format && format.type !== "text"
    ? await compile(llama, format.type === "json_schema" ? format.json_schema.schema : undefined, "response_format.json_schema.schema", "JSON schema")
    : undefined);
  if (body.logprobs === true && (mode.kind !== "none" || grammar)) {
    throw new ApiError(400, "logprobs cannot be combined with tools or response_format on this backend.", "unsupported_value", "logprobs");
  }
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    messages,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    tools: mode,
    topLogprobs: body.logprobs === true ? (body.top_logprobs ?? 0) : undefined,
    params: {
      temperature: body.temperature ?? 1, // OpenAI's default
      topP: body.top_p ?? undefined,
      seed: body.seed ?? undefined,
      stop: stop.filter((s) => s.length > 0),
      grammar,
      frequencyPenalty: body.frequency_penalty ?? undefined,
      presencePenalty: body.presence_penalty ?? undefined,
      functions: mode.kind === "auto" ? mode.functions : undefined,
      maxParallelFunctionCalls: mode.kind === "auto" && !mode.parallel ? 1 : undefined,
    },
  };
}
