// The Response object of OpenAI's Responses API as the gateway renders it (the shapes of the
// `openai` client's resources/responses types): ids, the echo of the request's parameters, output
// items built from a chat answer, usage, and the status a chat finish_reason maps to.
import type { ResponseCreateRequest } from "../../../schema/responses.ts";

export type OutputText = { type: "output_text"; text: string; annotations: unknown[]; logprobs: unknown[] };
export type Refusal = { type: "refusal"; refusal: string };
export type MessageItem = {
  id: string;
  type: "message";
  status: "in_progress" | "completed" | "incomplete";
  role: "assistant";
  content: (OutputText | Refusal)[];
};
export type FunctionCallItem = {
  id: string;
  type: "function_call";
  status: "in_progress" | "completed" | "incomplete";
  call_id: string;
  name: string;
  arguments: string;
};
export type OutputItem = MessageItem | FunctionCallItem;

export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed";

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  completed_at: number | null;
  status: ResponseStatus;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" | "content_filter" } | null;
  model: string;
  output: OutputItem[];
  usage: ResponseUsage | null;
  [echoed: string]: unknown;
}

// 24 random bytes: an id cannot be guessed (the store is per tenant anyway).
export function newId(prefix: "resp" | "msg" | "fc"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `${prefix}_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// The response before any output: every parameter echoed with OpenAI's defaults filled in.
export function baseResponse(id: string, createdAt: number, req: ResponseCreateRequest): ResponseObject {
  return {
    id,
    object: "response",
    created_at: createdAt,
    completed_at: null,
    status: "in_progress",
    background: false,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    max_tool_calls: req.max_tool_calls ?? null,
    model: req.model,
    output: [],
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: req.previous_response_id ?? null,
    prompt_cache_key: req.prompt_cache_key ?? null,
    reasoning: { effort: req.reasoning?.effort ?? null, summary: req.reasoning?.summary ?? null },
    safety_identifier: req.safety_identifier ?? null,
    service_tier: req.service_tier ?? "default",
    store: req.store ?? true,
    temperature: req.temperature ?? 1,
    text: { format: req.text?.format ?? { type: "text" }, verbosity: req.text?.verbosity ?? "medium" },
    tool_choice: req.tool_choice ?? "auto",
    tools: (req.tools ?? []).map((t) => ({
      type: "function",
      name: t.name,
      description: t.description ?? null,
      parameters: t.parameters ?? null,
      strict: t.strict ?? null,
    })),
    top_logprobs: req.top_logprobs ?? 0,
    top_p: req.top_p ?? 1,
    truncation: req.truncation ?? "disabled",
    usage: null,
    user: req.user ?? null,
    metadata: req.metadata ?? {},
  };
}

export function messageItem(text: string, refusal: string | null, status: MessageItem["status"] = "completed", id = newId("msg")): MessageItem {
  const content: MessageItem["content"] = [];
  if (text !== "" || refusal === null) content.push({ type: "output_text", text, annotations: [], logprobs: [] });
  if (refusal !== null) content.push({ type: "refusal", refusal });
  return { id, type: "message", status, role: "assistant", content };
}

export function functionCallItem(callId: string, name: string, args: string, status: FunctionCallItem["status"] = "completed", id = newId("fc")): FunctionCallItem {
  return { id, type: "function_call", status, call_id: callId, name, arguments: args };
}

type ChatUsage = {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
};

export function usageFrom(usage: ChatUsage | null | undefined): ResponseUsage {
  const input = usage?.prompt_tokens ?? 0;
  const output = usage?.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.prompt_tokens_details?.cached_tokens ?? 0, cache_write_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: usage?.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: input + output,
  };
}

// A chat finish_reason as a response status: `length` and `content_filter` end it incomplete,
// everything else (stop, tool_calls, an upstream's own words) completes it.
export function finishStatus(finish: string | null | undefined): Pick<ResponseObject, "status" | "incomplete_details"> {
  if (finish === "length") return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
  if (finish === "content_filter") return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
  return { status: "completed", incomplete_details: null };
}

type ChatAnswer = {
  choices?: {
    message?: { content?: unknown; refusal?: string | null; tool_calls?: { id?: string; type?: string; function?: { name?: string; arguments?: string } }[] };
    finish_reason?: string | null;
  }[];
  usage?: ChatUsage | null;
};

// A chat.completion (JSON text from the pipeline) as the finished response.
export function responseFromChat(base: ResponseObject, body: string): ResponseObject {
  const answer = JSON.parse(body) as ChatAnswer;
  const choice = answer.choices?.[0];
  const message = choice?.message ?? {};
  const output: OutputItem[] = [];
  const text = typeof message.content === "string" ? message.content : Array.isArray(message.content) ? message.content.map((p: { text?: unknown }) => (typeof p.text === "string" ? p.text : "")).join("") : "";
  const calls = (message.tool_calls ?? []).filter((c) => c.function);
  const { status, incomplete_details } = finishStatus(choice?.finish_reason);
  const itemStatus = status === "completed" ? "completed" : "incomplete";
  // An answer that is only tool calls has no message item (as OpenAI answers).
  if (text !== "" || message.refusal || calls.length === 0) output.push(messageItem(text, message.refusal ?? null, itemStatus));
  for (const call of calls) {
    output.push(functionCallItem(call.id ?? newId("fc").replace("fc_", "call_"), call.function?.name ?? "", call.function?.arguments ?? "", itemStatus));
  }
  return { ...base, status, incomplete_details, completed_at: Math.floor(Date.now() / 1000), output, usage: usageFrom(answer.usage) };
}
