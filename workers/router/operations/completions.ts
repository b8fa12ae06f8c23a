// POST /v1/completions per provider kind:
//   openai-compatible  native: POST {base}/completions with the body as the client sent it (the
//                      model swapped), answers and text_completion stream chunks relayed as they
//                      are;
//   anthropic,         translated: the prompt becomes one user message of a chat call through the
//   workers-ai         family's chat adapter, and its answer (JSON or chat chunks) comes back in
//                      the text_completion shape. What a chat call cannot express is refused for
//                      such a target (suffix, a batch or token ids as prompt, best_of > 1), so a
//                      route falls over to a native target or answers 400; logprobs are dropped
//                      (null in the answer); echo prepends the prompt to the text.
import { extraParams } from "../../../schema/chat-params.ts";
import { completionResponse, DEFAULT_COMPLETION_TOKENS, knownCompletionParams, singleTextPrompt, type CompletionRequest } from "../../../schema/completions.ts";
import { knownChatParams, type ChatCompletionRequest, type ChatCompletionResponse } from "../../../schema/openai.ts";
import { mapRequest } from "../providers/map-request.ts";
import type { ProviderAdapter } from "../providers/types.ts";
import type { ChunkTransform } from "../sse.ts";
import type { OperationAdapter, OperationResponse } from "./types.ts";

const relayed: ChunkTransform = (data) => [data];

export const nativeCompletions: OperationAdapter<CompletionRequest> = {
  url: (baseUrl) => `${baseUrl}/completions`,
  body: (request, ctx) => ({ ...request, model: ctx.target.model }),
  toResponse: (body) => {
    const parsed = completionResponse.safeParse(body);
    return parsed.success ? parsed.data : null;
  },
  toStreamChunks: () => relayed,
};

// The chat request a completion is routed (and, for translating families, sent) as: the prompt as
// the one user message, the sampling fields that chat shares, and OpenAI's default of 16 tokens
// when the request names none (what limits and budgets reserve for it too).
export function chatView(request: CompletionRequest): ChatCompletionRequest {
  const view: ChatCompletionRequest = {
    ...extraParams(request, knownCompletionParams, knownChatParams),
    model: request.model,
    messages: [{ role: "user", content: singleTextPrompt(request.prompt) ?? "" }],
    max_tokens: Math.max(1, request.max_tokens ?? DEFAULT_COMPLETION_TOKENS),
  };
  const shared = ["temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "logit_bias", "user", "stream", "stream_options"] as const;
  for (const field of shared) {
    if (request[field] !== undefined) (view as Record<string, unknown>)[field] = request[field];
  }
  // Asked for: a family that cannot return them names logprobs in x-edgeclaw-dropped-params.
  if (request.logprobs != null) view.logprobs = true;
  return view;
}

export function completionsViaChat(chat: ProviderAdapter): OperationAdapter<CompletionRequest> {
  return {
    refuse(request) {
      if (request.suffix) {
        return { code: "unsupported_parameter", param: "suffix", message: "cannot fill in the middle (suffix): that needs an OpenAI-compatible upstream serving /completions" };
      }
      if (singleTextPrompt(request.prompt) === null) {
        return { code: "unsupported_value", param: "prompt", message: "takes one text prompt (a batch of prompts or token ids needs an OpenAI-compatible upstream serving /completions)" };
      }
      if ((request.best_of ?? 1) > 1) {
        return { code: "unsupported_parameter", param: "best_of", message: "cannot pick the best of several candidates (best_of > 1)" };
      }
      return null;
    },
    url: (baseUrl) => chat.chatUrl(baseUrl),
    body: (_request, ctx) => mapRequest(chat, ctx),
    toResponse: (body, request, ctx) => {
      const answer = chat.toResponse(body, ctx);
      return answer ? fromChat(answer, request) : null;
    },
    toStreamChunks: (request) => (data, event, state) => {
      const out: string[] = [];
      if (request.echo && state.echoed !== true) {
        state.echoed = true;
        out.push(JSON.stringify(textChunk("cmpl-echo", "", singleTextPrompt(request.prompt) ?? "", null)));
      }
      for (const piece of chat.toStreamChunks(data, event, state)) out.push(...fromChatChunk(piece));
      return out;
    },
    ...(chat.send ? { send: chat.send } : {}),
  };
}

function completionId(chatId: string): string {
  return chatId.startsWith("chatcmpl-") ? `cmpl-${chatId.slice("chatcmpl-".length)}` : chatId;
}

function fromChat(answer: ChatCompletionResponse, request: CompletionRequest): OperationResponse {
  const choice = answer.choices[0];
  const content = (choice?.message as { content?: unknown } | undefined)?.content;
  const text = typeof content === "string" ? content : "";
  return {
    id: completionId(answer.id),
    object: "text_completion",
    created: answer.created,
    model: answer.model,
    choices: [{ text: (request.echo ? (singleTextPrompt(request.prompt) ?? "") : "") + text, index: 0, logprobs: null, finish_reason: choice?.finish_reason ?? null }],
    ...(answer.usage ? { usage: answer.usage } : {}),
  };
}

function textChunk(id: string, model: string, text: string, finishReason: string | null, usage?: unknown) {
  return {
    id,
    object: "text_completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ text, index: 0, logprobs: null, finish_reason: finishReason }],
    ...(usage ? { usage } : {}),
  };
}

type ChatChunk = {
  id?: string;
  model?: string;
  error?: unknown;
  usage?: unknown;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
};

// One chat chunk payload -> the text_completion chunk a completions client expects ([DONE] and
// error events as they are; role-only and tool-call chunks carry nothing here).
function fromChatChunk(payload: string): string[] {
  if (payload === "[DONE]") return [payload];
  let chunk: ChatChunk;
  try {
    chunk = JSON.parse(payload) as ChatChunk;
  } catch {
    return [];
  }
  if (chunk.error) return [payload];
  const choice = chunk.choices?.[0];
  const text = choice?.delta?.content ?? "";
  const finish = choice?.finish_reason ?? null;
  if (!text && finish === null && !chunk.usage) return [];
  const id = completionId(chunk.id ?? "cmpl");
  if (!text && finish === null) return [JSON.stringify({ ...textChunk(id, chunk.model ?? "", "", null, chunk.usage), choices: [] })];
  return [JSON.stringify(textChunk(id, chunk.model ?? "", text, finish, chunk.usage))];
}
