// OpenAI-compatible upstreams (the gpu-backend, vLLM, OpenAI, most hosted APIs): the request goes
// out as the client sent it with the model swapped for the upstream id (unknown top-level fields
// included: vLLM's and llama.cpp's extensions are this dialect's), and answers and stream events
// come back untouched (tool calls, usage and any extra fields included). Nothing is dropped: an
// upstream that does not know a field answers for itself, as it would to the client directly.
import { chatCompletionResponse, upstreamErrorBody } from "../../../schema/openai.ts";
import type { ParamMap, ParamRule, ProviderAdapter } from "./types.ts";

const same = (name: string): ParamRule => ({ to: name });

const params: ParamMap = {
  model: { to: "model", transform: (_value, { target }) => target.model },
  messages: same("messages"),
  tools: same("tools"),
  tool_choice: same("tool_choice"),
  parallel_tool_calls: same("parallel_tool_calls"),
  functions: same("functions"),
  function_call: same("function_call"),
  temperature: same("temperature"),
  top_p: same("top_p"),
  max_tokens: same("max_tokens"),
  max_completion_tokens: same("max_completion_tokens"),
  stop: same("stop"),
  seed: same("seed"),
  response_format: same("response_format"),
  stream: same("stream"),
  stream_options: same("stream_options"),
  user: same("user"),
  n: same("n"),
  presence_penalty: same("presence_penalty"),
  frequency_penalty: same("frequency_penalty"),
  logit_bias: same("logit_bias"),
  logprobs: same("logprobs"),
  top_logprobs: same("top_logprobs"),
  metadata: same("metadata"),
  store: same("store"),
  reasoning_effort: same("reasoning_effort"),
  service_tier: same("service_tier"),
  verbosity: same("verbosity"),
  prompt_cache_key: same("prompt_cache_key"),
  prompt_cache_retention: same("prompt_cache_retention"),
  prompt_cache_options: same("prompt_cache_options"),
  safety_identifier: same("safety_identifier"),
  modalities: same("modalities"),
  audio: same("audio"),
  prediction: same("prediction"),
  web_search_options: same("web_search_options"),
  moderation: same("moderation"),
  top_k: same("top_k"),
  min_p: same("min_p"),
  repetition_penalty: same("repetition_penalty"),
  min_tokens: same("min_tokens"),
};

export const openAiCompatible: ProviderAdapter = {
  kind: "openai-compatible",
  params,
  extras: "pass",
  chatUrl: (baseUrl) => `${baseUrl}/chat/completions`,
  headers: (target): Record<string, string> =>
    target.credential ? { authorization: `Bearer ${target.credential}` } : {},
  toResponse: (body) => {
    const parsed = chatCompletionResponse.safeParse(body);
    return parsed.success ? parsed.data : null;
  },
  toStreamChunks: (data) => [data],
  errorMessage: (body) => {
    const parsed = upstreamErrorBody.safeParse(body);
    if (!parsed.success) return undefined;
    const { error } = parsed.data;
    return typeof error === "string" ? error : error.message;
  },
  errorCode: (body) => {
    const parsed = upstreamErrorBody.safeParse(body);
    if (!parsed.success || typeof parsed.data.error === "string") return undefined;
    const { code, type } = parsed.data.error as { code?: unknown; type?: unknown };
    return typeof code === "string" ? code : typeof type === "string" ? type : undefined;
  },
};
