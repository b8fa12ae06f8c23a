// An Anthropic Messages request as a chat completion request, so it runs through the shared chat
// pipeline (routes, limits, budgets, breakers, cache) to any upstream. The client's own body rides
// along under NATIVE_ANTHROPIC: the Anthropic adapter sends that, model swapped, to an Anthropic
// upstream, so nothing is lost there; every other upstream gets this translation:
//   system (string or text blocks), system turns    -> system messages
//   text / image (base64 -> data URL, url) blocks   -> text / image_url parts
//   document: text source -> text part; base64 PDF  -> file part (file_data data URL)
//   tool_use blocks                                 -> assistant tool_calls (input as JSON text)
//   tool_result blocks                              -> tool messages, first, in order (is_error
//                                                      prefixes "Error: "; images they hold follow
//                                                      in a user message, as tool messages are text)
//   thinking / redacted_thinking blocks             -> dropped (only Anthropic can verify them)
//   cache_control                                   -> dropped
//   tools (custom) / tool_choice                    -> function tools / auto|required|none|named,
//                                                      disable_parallel_tool_use -> parallel_tool_calls
//   thinking {enabled, budget_tokens}               -> reasoning_effort by budget (below)
//   output_config.effort / .format                  -> reasoning_effort / response_format json_schema
//   max_tokens, stop_sequences, temperature, top_p, top_k -> max_tokens, stop, same names
//   metadata.user_id                                -> user
//   stream                                          -> stream with stream_options.include_usage
//   service_tier                                    -> dropped (Anthropic's tiers are not OpenAI's)
import type { AnthropicMessage, CountTokensRequest, MessagesRequest } from "../../../schema/anthropic.ts";
import { NATIVE_ANTHROPIC } from "../../../schema/anthropic.ts";
import type { ChatCompletionRequest, ReasoningEffort } from "../../../schema/openai.ts";

type ChatMessage = ChatCompletionRequest["messages"][number];
type Part = Record<string, unknown>;
type Block = { type: string; [key: string]: unknown };

// Budget thresholds for reasoning_effort: Anthropic's documented starting budget is 1,024 tokens
// and its examples use ~10k for hard problems and 16k+ for the hardest; OpenAI-compatible
// reasoning models take a level instead.
export function effortForBudget(budget: number): ReasoningEffort {
  if (budget < 4096) return "low";
  if (budget < 16_384) return "medium";
  return "high";
}

const effortLevels: Record<string, ReasoningEffort> = { low: "low", medium: "medium", high: "high", xhigh: "xhigh", max: "max" };

function systemText(content: string | { text: string }[]): ChatMessage {
  return typeof content === "string"
    ? { role: "system", content }
    : { role: "system", content: content.map((b) => ({ type: "text" as const, text: b.text })) };
}

function imagePart(block: Block): Part {
  const source = block.source as { type: string; media_type?: string; data?: string; url?: string };
  const url = source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : String(source.url);
  return { type: "image_url", image_url: { url } };
}

function documentPart(block: Block): Part {
  const source = block.source as { type: string; media_type: string; data: string };
  const title = typeof block.title === "string" ? block.title : null;
  if (source.type === "text") {
    const context = typeof block.context === "string" ? `${block.context}\n\n` : "";
    return { type: "text", text: `${title ? `${title}\n\n` : ""}${context}${source.data}` };
  }
  return { type: "file", file: { file_data: `data:${source.media_type};base64,${source.data}`, filename: title ?? "document.pdf" } };
}

function userPart(block: Block): Part | null {
  if (block.type === "text") return { type: "text", text: block.text };
  if (block.type === "image") return imagePart(block);
  if (block.type === "document") return documentPart(block);
  return null;
}

// One tool_result: the tool message (text only) and the images it returned, if any.
function toolResult(block: Block): { message: ChatMessage; media: Part[] } {
  const texts: string[] = [];
  const media: Part[] = [];
  if (typeof block.content === "string") texts.push(block.content);
  else if (Array.isArray(block.content)) {
    for (const inner of block.content as Block[]) {
      if (inner.type === "text") texts.push(String(inner.text));
      else {
        const part = userPart(inner);
        if (part?.type === "text") texts.push(String(part.text));
        else if (part) media.push(part);
      }
    }
  }
  const text = texts.join("\n");
  const content = block.is_error === true ? `Error: ${text}` : text;
  return { message: { role: "tool", tool_call_id: String(block.tool_use_id), content }, media };
}

function userMessages(content: string | Block[]): ChatMessage[] {
  if (typeof content === "string") return [{ role: "user", content }];
  const out: ChatMessage[] = [];
  const parts: Part[] = [];
  const media: Part[] = [];
  for (const block of content) {
    if (block.type === "tool_result") {
      const result = toolResult(block);
      out.push(result.message);
      media.push(...result.media);
    } else {
      const part = userPart(block);
      if (part) parts.push(part);
    }
  }
  // Tool messages must directly follow the assistant's tool calls; the rest of the turn after.
  const rest = [...media, ...parts];
  if (rest.length > 0) out.push({ role: "user", content: rest } as ChatMessage);
  return out;
}

function assistantMessage(content: string | Block[]): ChatMessage {
  if (typeof content === "string") return { role: "assistant", content };
  const text = content.filter((b) => b.type === "text").map((b) => String(b.text)).join("");
  const calls = content
    .filter((b) => b.type === "tool_use")
    .map((b) => ({ id: String(b.id), type: "function" as const, function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } }));
  if (calls.length > 0) return { role: "assistant", content: text || null, tool_calls: calls };
  return { role: "assistant", content: text };
}

function chatMessages(system: MessagesRequest["system"], messages: AnthropicMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (system !== undefined && (typeof system === "string" ? system.length > 0 : system.length > 0)) out.push(systemText(system));
  for (const m of messages) {
    if (m.role === "system") out.push(systemText(m.content));
    else if (m.role === "user") out.push(...userMessages(m.content as string | Block[]));
    else out.push(assistantMessage(m.content as string | Block[]));
  }
  return out;
}

function tools(request: CountTokensRequest): Partial<ChatCompletionRequest> {
  const out: Partial<ChatCompletionRequest> = {};
  if (request.tools && request.tools.length > 0) {
    out.tools = request.tools.map((t) => ({
      type: "function" as const,
      function: {
        name: t.name,
        ...(t.description ? { description: t.description } : {}),
        parameters: t.input_schema as Record<string, unknown>,
        ...(t.strict !== undefined ? { strict: t.strict } : {}),
      },
    }));
  }
  const choice = request.tool_choice;
  if (choice) {
    if (choice.type === "auto") out.tool_choice = "auto";
    else if (choice.type === "any") out.tool_choice = "required";
    else if (choice.type === "none") out.tool_choice = "none";
    else out.tool_choice = { type: "function", function: { name: choice.name } };
    if ("disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use === true && out.tools) out.parallel_tool_calls = false;
  }
  return out;
}

function reasoning(request: CountTokensRequest): Partial<ChatCompletionRequest> {
  const effort = request.output_config?.effort;
  if (effort) return { reasoning_effort: effortLevels[effort] };
  if (request.thinking?.type === "enabled") return { reasoning_effort: effortForBudget(request.thinking.budget_tokens) };
  return {};
}

function responseFormat(request: CountTokensRequest): Partial<ChatCompletionRequest> {
  const format = request.output_config?.format;
  if (!format) return {};
  return { response_format: { type: "json_schema", json_schema: { name: "output", schema: format.schema, strict: true } } };
}

// The prompt part alone (count_tokens estimates, and the base of a full request).
export function promptToChat(request: CountTokensRequest): ChatCompletionRequest {
  return {
    model: request.model,
    messages: chatMessages(request.system, request.messages),
    ...tools(request),
    ...reasoning(request),
    ...responseFormat(request),
  } as ChatCompletionRequest;
}

export function messagesToChat(request: MessagesRequest): ChatCompletionRequest {
  const chat: ChatCompletionRequest = {
    ...promptToChat(request),
    max_tokens: request.max_tokens,
    ...(request.stop_sequences && request.stop_sequences.length > 0 ? { stop: request.stop_sequences } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.top_p !== undefined ? { top_p: request.top_p } : {}),
    ...(request.top_k !== undefined ? { top_k: request.top_k } : {}),
    ...(request.metadata?.user_id ? { user: request.metadata.user_id } : {}),
    ...(request.stream === true ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
  Object.defineProperty(chat, NATIVE_ANTHROPIC, { value: request, enumerable: true });
  return chat;
}
