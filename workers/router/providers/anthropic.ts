// Anthropic's Messages API (POST {base}/messages), mapped to and from OpenAI's chat shape: the
// request side (parameters, tools, thinking, messages) is anthropic-request.ts; here answers and
// SSE events (message_start, content_block_start/delta/stop, message_delta, message_stop, ping,
// error) come back as chat.completion objects and chunks.
import { z } from "zod";
import type { ChatCompletionResponse } from "../../../schema/openai.ts";
import { finalizeBody, nativeBody, params } from "./anthropic-request.ts";
import type { ProviderAdapter } from "./types.ts";

const API_VERSION = "2023-06-01";

type Block = Record<string, unknown>;

const finishReasons: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};
const finish = (reason: unknown) => (typeof reason === "string" ? (finishReasons[reason] ?? "stop") : null);

const messageBody = z.looseObject({
  id: z.string(),
  type: z.literal("message"),
  model: z.string(),
  content: z.array(z.looseObject({ type: z.string() })),
  stop_reason: z.string().nullable(),
  usage: z.looseObject({ input_tokens: z.number(), output_tokens: z.number() }),
});

const errorBody = z.looseObject({ error: z.looseObject({ type: z.string(), message: z.string() }) });

function toResponse(body: unknown): ChatCompletionResponse | null {
  const parsed = messageBody.safeParse(body);
  if (!parsed.success) return null;
  const m = parsed.data;
  const text = m.content.filter((b) => b.type === "text").map((b) => String(b.text ?? "")).join("");
  // Thinking blocks travel as LiteLLM does it: the text as reasoning_content, the blocks with
  // their signatures as thinking_blocks (the Messages ingress hands them back to its client).
  const thinking = m.content.filter((b) => b.type === "thinking" || b.type === "redacted_thinking");
  const calls = m.content
    .filter((b) => b.type === "tool_use")
    .map((b) => ({ id: String(b.id), type: "function" as const, function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } }));
  return {
    id: m.id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: m.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: calls.length > 0 && !text ? null : text,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
          ...(thinking.length > 0 ? { reasoning_content: thinking.map((b) => String(b.thinking ?? "")).join(""), thinking_blocks: thinking } : {}),
        },
        finish_reason: finish(m.stop_reason),
        // The stop sequence that ended the text, where vLLM puts it.
        ...(typeof m.stop_sequence === "string" ? { stop_reason: m.stop_sequence } : {}),
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: m.usage.input_tokens, completion_tokens: m.usage.output_tokens, total_tokens: m.usage.input_tokens + m.usage.output_tokens },
  };
}

interface StreamState {
  id?: string;
  model?: string;
  inputTokens?: number;
  tools?: Record<number, number>; // content block index -> OpenAI tool call index
}

function toStreamChunks(data: string, event: string | undefined, raw: Record<string, unknown>): string[] {
  const s = raw as StreamState;
  let ev: Record<string, any>;
  try {
    ev = JSON.parse(data) as Record<string, any>;
  } catch {
    return [];
  }
  const type = (ev.type as string | undefined) ?? event;
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}, choiceExtra: Record<string, unknown> = {}) =>
    JSON.stringify({
      id: s.id ?? "msg",
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model: s.model ?? "",
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null, ...choiceExtra }],
      ...extra,
    });
  switch (type) {
    case "message_start":
      s.id = ev.message?.id;
      s.model = ev.message?.model;
      s.inputTokens = ev.message?.usage?.input_tokens ?? 0;
      return [chunk({ role: "assistant", content: "" })];
    case "content_block_start": {
      const block = ev.content_block as Block | undefined;
      if (block?.type === "redacted_thinking") return [chunk({ thinking_blocks: [{ type: "redacted_thinking", data: block.data }] })];
      if (block?.type !== "tool_use") return [];
      s.tools ??= {};
      const index = Object.keys(s.tools).length;
      s.tools[ev.index as number] = index;
      return [chunk({ tool_calls: [{ index, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })];
    }
    case "content_block_delta": {
      const delta = ev.delta as Block | undefined;
      if (delta?.type === "text_delta") return [chunk({ content: delta.text })];
      if (delta?.type === "thinking_delta") return [chunk({ reasoning_content: delta.thinking })];
      if (delta?.type === "signature_delta") return [chunk({ thinking_blocks: [{ type: "thinking", thinking: "", signature: delta.signature }] })];
      if (delta?.type === "input_json_delta") {
        const index = s.tools?.[ev.index as number] ?? 0;
        return [chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
      }
      return [];
    }
    case "message_delta": {
      const out = ev.usage?.output_tokens ?? 0;
      const inTokens = s.inputTokens ?? 0;
      const matched = typeof ev.delta?.stop_sequence === "string" ? { stop_reason: ev.delta.stop_sequence } : {};
      return [chunk({}, finish(ev.delta?.stop_reason) ?? "stop", { usage: { prompt_tokens: inTokens, completion_tokens: out, total_tokens: inTokens + out } }, matched)];
    }
    case "message_stop":
      return ["[DONE]"];
    case "error":
      return [JSON.stringify({ error: { message: ev.error?.message ?? "upstream error", type: "upstream_error", param: null, code: ev.error?.type ?? "upstream_error" } })];
    default:
      return []; // ping, content_block_stop
  }
}

export const anthropic: ProviderAdapter = {
  kind: "anthropic",
  params,
  extras: "drop",
  chatUrl: (baseUrl) => `${baseUrl}/messages`,
  headers: (target): Record<string, string> => ({
    "anthropic-version": API_VERSION,
    ...(target.credential ? { "x-api-key": target.credential } : {}),
  }),
  finalizeBody,
  // A request from the Messages ingress carries the client's own Messages body: mapRequest sends
  // that as it is, model swapped (thinking blocks with signatures, cache_control, documents
  // survive), and droppedParams reports nothing dropped from it.
  nativeBody,
  toResponse,
  toStreamChunks,
  errorMessage: (body) => {
    const parsed = errorBody.safeParse(body);
    return parsed.success ? parsed.data.error.message : undefined;
  },
  errorCode: (body) => {
    const parsed = errorBody.safeParse(body);
    return parsed.success ? parsed.data.error.type : undefined;
  },
};
