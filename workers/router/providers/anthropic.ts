// Anthropic's Messages API (POST {base}/messages), mapped to and from OpenAI's chat shape:
// system/developer messages become `system`, tool calls become tool_use blocks and tool messages
// tool_result blocks, max_tokens is required (DEFAULT_MAX_TOKENS when the client gives none), and
// answers and SSE events (message_start, content_block_start/delta/stop, message_delta,
// message_stop, ping, error) come back as chat.completion objects and chunks.
import { z } from "zod";
import type { ChatCompletionResponse } from "../../../schema/openai.ts";
import type { ParamMap, ProviderAdapter } from "./types.ts";

const DEFAULT_MAX_TOKENS = 4096;
const API_VERSION = "2023-06-01";

type OpenAiMessage = { role: string; content?: unknown; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string };
type Block = Record<string, unknown>;

const dropped = null;

const params: ParamMap = {
  model: { to: "model", transform: (_v, { target }) => target.model },
  messages: { to: "messages" },
  tools: {
    to: "tools",
    transform: (tools) =>
      (tools as { function: { name: string; description?: string; parameters?: unknown } }[]).map((t) => ({
        name: t.function.name,
        ...(t.function.description ? { description: t.function.description } : {}),
        input_schema: t.function.parameters ?? { type: "object", properties: {} },
      })),
  },
  tool_choice: {
    to: "tool_choice",
    transform: (choice) => {
      if (choice === "auto") return { type: "auto" };
      if (choice === "required") return { type: "any" };
      if (choice === "none") return { type: "none" };
      return { type: "tool", name: (choice as { function: { name: string } }).function.name };
    },
  },
  parallel_tool_calls: dropped,
  // Anthropic's range is 0-1 where OpenAI's is 0-2.
  temperature: { to: "temperature", transform: (v) => (v == null ? undefined : Math.min(1, v as number)) },
  top_p: { to: "top_p", transform: (v) => v ?? undefined },
  max_tokens: { to: "max_tokens", transform: (v) => v ?? undefined },
  max_completion_tokens: { to: "max_tokens", transform: (v) => v ?? undefined },
  stop: { to: "stop_sequences", transform: (v) => (v == null ? undefined : typeof v === "string" ? [v] : v) },
  seed: dropped,
  response_format: dropped,
  stream: { to: "stream", transform: (v) => v ?? undefined },
  stream_options: dropped,
  user: { to: "metadata", transform: (v) => ({ user_id: v }) },
  n: dropped,
  presence_penalty: dropped,
  frequency_penalty: dropped,
  logit_bias: dropped,
  logprobs: dropped,
  top_logprobs: dropped,
  metadata: dropped,
  store: dropped,
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

function toAnthropicMessages(messages: OpenAiMessage[]): { system?: string; messages: Block[] } {
  const system: string[] = [];
  const out: { role: string; content: Block[] | string }[] = [];
  const push = (role: string, blocks: Block[]) => {
    const last = out[out.length - 1];
    // Consecutive turns of one role (several tool results) are merged, as the API expects.
    if (last && last.role === role && Array.isArray(last.content)) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
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
        blocks.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
      }
      push("assistant", blocks);
    } else if (m.role === "tool") {
      push("user", [{ type: "tool_result", tool_use_id: m.tool_call_id, content: textOf(m.content) }]);
    }
  }
  return { ...(system.length > 0 ? { system: system.join("\n\n") } : {}), messages: out };
}

function parseArguments(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

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
        message: { role: "assistant", content: calls.length > 0 && !text ? null : text, ...(calls.length > 0 ? { tool_calls: calls } : {}) },
        finish_reason: finish(m.stop_reason),
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
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      id: s.id ?? "msg",
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model: s.model ?? "",
      choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
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
      if (block?.type !== "tool_use") return [];
      s.tools ??= {};
      const index = Object.keys(s.tools).length;
      s.tools[ev.index as number] = index;
      return [chunk({ tool_calls: [{ index, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] })];
    }
    case "content_block_delta": {
      const delta = ev.delta as Block | undefined;
      if (delta?.type === "text_delta") return [chunk({ content: delta.text })];
      if (delta?.type === "input_json_delta") {
        const index = s.tools?.[ev.index as number] ?? 0;
        return [chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
      }
      return [];
    }
    case "message_delta": {
      const out = ev.usage?.output_tokens ?? 0;
      const inTokens = s.inputTokens ?? 0;
      return [chunk({}, finish(ev.delta?.stop_reason) ?? "stop", { usage: { prompt_tokens: inTokens, completion_tokens: out, total_tokens: inTokens + out } })];
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
  chatUrl: (baseUrl) => `${baseUrl}/messages`,
  headers: (target): Record<string, string> => ({
    "anthropic-version": API_VERSION,
    ...(target.credential ? { "x-api-key": target.credential } : {}),
  }),
  finalizeBody: (mapped) => {
    const { messages, ...rest } = mapped as { messages: OpenAiMessage[]; max_tokens?: number };
    return { ...rest, max_tokens: rest.max_tokens ?? DEFAULT_MAX_TOKENS, ...toAnthropicMessages(messages) };
  },
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
