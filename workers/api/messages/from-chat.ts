// A chat completion (what the shared pipeline answers, whatever the upstream) as an Anthropic
// Message. What an upstream said about its reasoning comes back as thinking blocks: the
// Anthropic adapter carries Anthropic's own blocks (with their signatures, so the client can send
// them back) as `thinking_blocks` on the chat message; OpenAI-compatible reasoning models (vLLM,
// DeepSeek, llama.cpp) send `reasoning_content` (or `reasoning`), which becomes a thinking block
// with an empty signature, and only when the client asked for thinking.
import { z } from "zod";
import { chatCompletionResponse } from "../../../schema/openai.ts";
import { ApiError } from "../../http/errors.ts";

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "refusal" | "pause_turn";

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
}

export interface AnthropicAnswer {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: Record<string, unknown>[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: Usage;
}

// A thinking block as the Anthropic adapter hands it on.
export const thinkingBlockShape = z.union([
  z.looseObject({ type: z.literal("thinking"), thinking: z.string().optional(), signature: z.string().optional() }),
  z.looseObject({ type: z.literal("redacted_thinking"), data: z.string() }),
]);

// Chat finish reasons (and vLLM's matched stop string) as Anthropic stop reasons.
export function stopReason(finish: string | null | undefined, matched: unknown, stopSequences: readonly string[] | undefined): { reason: StopReason; sequence: string | null } {
  if (finish === "length") return { reason: "max_tokens", sequence: null };
  if (finish === "tool_calls" || finish === "function_call") return { reason: "tool_use", sequence: null };
  if (finish === "content_filter") return { reason: "refusal", sequence: null };
  // An upstream that says which stop string ended the text (vLLM's choice.stop_reason; the
  // Anthropic adapter's stop_sequence) makes it a stop_sequence, as Anthropic reports it.
  if (typeof matched === "string" && stopSequences?.includes(matched)) return { reason: "stop_sequence", sequence: matched };
  return { reason: "end_turn", sequence: null };
}

// Anthropic ids start with msg_; an upstream's chat id is kept inside one (Anthropic's own
// msg_ ids pass unchanged).
export function messageId(upstreamId: string | undefined): string {
  if (upstreamId?.startsWith("msg_")) return upstreamId.slice(0, 128);
  const clean = (upstreamId ?? "").replace(/[^A-Za-z0-9]/g, "").slice(0, 48);
  return `msg_${clean || crypto.randomUUID().replaceAll("-", "")}`;
}

export function toolInput(args: unknown): Record<string, unknown> {
  if (typeof args !== "string" || args.trim() === "") return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { value: parsed };
  } catch {
    // Models do emit broken JSON; Anthropic's tool input is always an object, so the text is
    // handed on under one key rather than lost.
    return { _raw_arguments: args };
  }
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p: { type?: string; text?: string }) => (p.type === "text" ? (p.text ?? "") : "")).join("");
  return "";
}

export function thinkingBlocks(message: Record<string, unknown>, wantThinking: boolean): Record<string, unknown>[] {
  const native = Array.isArray(message.thinking_blocks) ? message.thinking_blocks : [];
  const blocks: Record<string, unknown>[] = [];
  for (const raw of native) {
    const parsed = thinkingBlockShape.safeParse(raw);
    if (!parsed.success) continue;
    const b = parsed.data;
    blocks.push(b.type === "thinking" ? { type: "thinking", thinking: b.thinking ?? "", signature: b.signature ?? "" } : { type: "redacted_thinking", data: b.data });
  }
  if (blocks.length > 0) return blocks;
  const reasoning = typeof message.reasoning_content === "string" ? message.reasoning_content : typeof message.reasoning === "string" ? message.reasoning : "";
  return wantThinking && reasoning ? [{ type: "thinking", thinking: reasoning, signature: "" }] : [];
}

export function chatToMessage(body: string, model: string, options: { stopSequences?: readonly string[]; wantThinking: boolean }): AnthropicAnswer {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = null;
  }
  const parsed = chatCompletionResponse.safeParse(json);
  const choice = parsed.success ? parsed.data.choices[0] : undefined;
  if (!parsed.success || !choice) throw new ApiError(502, "upstream_bad_response", "The upstream sent an unusable answer: no choice to translate.");
  const message = choice.message as Record<string, unknown>;
  const content: Record<string, unknown>[] = thinkingBlocks(message, options.wantThinking);
  const text = textOf(message.content);
  if (text) content.push({ type: "text", text });
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as { id?: string; function?: { name?: string; arguments?: string } }[]) : [];
  for (const call of calls) {
    if (!call.function?.name) continue;
    content.push({ type: "tool_use", id: call.id ?? `toolu_${crypto.randomUUID().replaceAll("-", "")}`, name: call.function.name, input: toolInput(call.function.arguments) });
  }
  // A chat answer with no text and no call still has an (empty) text block, as Anthropic sends.
  if (content.length === 0) content.push({ type: "text", text: "" });
  const stop = stopReason(choice.finish_reason, (choice as Record<string, unknown>).stop_reason, options.stopSequences);
  const usage = parsed.data.usage;
  const cached = (usage as { prompt_tokens_details?: { cached_tokens?: unknown } } | null | undefined)?.prompt_tokens_details?.cached_tokens;
  return {
    id: messageId(parsed.data.id),
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stop.reason,
    stop_sequence: stop.sequence,
    usage: {
      input_tokens: usage?.prompt_tokens ?? 0,
      output_tokens: usage?.completion_tokens ?? 0,
      cache_creation_input_tokens: null,
      cache_read_input_tokens: typeof cached === "number" ? cached : null,
    },
  };
}
