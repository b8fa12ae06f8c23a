// OpenAI response and stream-chunk shapes.
import { randomBytes } from "node:crypto";
import type { FinishReason } from "../engine/loaded-model.ts";
import type { TokenLogprob } from "../engine/token-loop.ts";

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

export function completionId(prefix = "chatcmpl"): string {
  return `${prefix}-${randomBytes(12).toString("base64url")}`;
}

export type ToolCallOut = { id: string; type: "function"; function: { name: string; arguments: string } };

/** What one chat answer holds, whichever way it was generated. */
export type ChatAnswer = { text: string | null; finish: FinishReason; toolCalls?: ToolCallOut[]; logprobs?: TokenLogprob[] };

/** OpenAI's logprobs.content entries (the offset is ours, for cutting at stop strings). */
export const logprobsContent = (lp: readonly TokenLogprob[]) => lp.map(({ token, logprob, bytes, top_logprobs }) => ({ token, logprob, bytes, top_logprobs }));

/** `fingerprint` is the serving model's (LoadedModel.fingerprint): it changes whenever the model id is reloaded. */
export function completionBody(id: string, model: string, fingerprint: string, created: number, answer: ChatAnswer, u: Usage) {
  const message = { role: "assistant" as const, content: answer.text, refusal: null, ...(answer.toolCalls?.length ? { tool_calls: answer.toolCalls } : {}) };
  return {
    id,
    object: "chat.completion" as const,
    created,
    model,
    system_fingerprint: fingerprint,
    choices: [{ index: 0, message, logprobs: answer.logprobs ? { content: logprobsContent(answer.logprobs), refusal: null } : null, finish_reason: answer.finish }],
    usage: u,
  };
}

/** Builds the `data: {...}\n\n` lines of one stream; every chunk carries the same id, created and model. */
export function chunkWriter(id: string, model: string, fingerprint: string, created: number, includeUsage: boolean) {
  const head = `{"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":${JSON.stringify(fingerprint)},`;
  // With include_usage every chunk carries "usage": null except the last, as OpenAI does.
  const tail = includeUsage ? `,"usage":null}` : "}";
  const choice = (delta: string, finish: FinishReason | null, logprobs = "null") =>
    `data: ${head}"choices":[{"index":0,"delta":${delta},"logprobs":${logprobs},"finish_reason":${finish ? `"${finish}"` : "null"}}]${tail}\n\n`;
  return {
    role: () => choice(`{"role":"assistant","content":""}`, null),
    // Hand-assembled: this runs once per token, and only the content needs escaping.
    content: (text: string, logprobs?: readonly TokenLogprob[]) =>
      choice(`{"content":${JSON.stringify(text)}}`, null, logprobs ? JSON.stringify({ content: logprobsContent(logprobs), refusal: null }) : "null"),
    /** The first delta of a call carries its id, type and name; later ones append to its arguments. */
    toolCall: (index: number, call: { id?: string; name?: string; arguments: string }) => {
      const start = call.id !== undefined ? { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } } : { function: { arguments: call.arguments } };
      return choice(JSON.stringify({ tool_calls: [{ index, ...start }] }), null);
    },
    finish: (finish: FinishReason) => choice("{}", finish),
    usage: (u: Usage) => `data: ${head}"choices":[],"usage":${JSON.stringify(u)}}\n\n`,
    error: (body: unknown) => `data: ${JSON.stringify(body)}\n\n`,
    done: () => "data: [DONE]\n\n",
  };
}
