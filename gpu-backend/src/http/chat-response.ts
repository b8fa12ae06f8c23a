// OpenAI response and stream-chunk shapes.
import { randomBytes } from "node:crypto";
import type { FinishReason } from "../engine/loaded-model.ts";

export type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

export function completionId(): string {
  return `chatcmpl-${randomBytes(12).toString("base64url")}`;
}

/** `fingerprint` is the serving model's (LoadedModel.fingerprint): it changes whenever the model id is reloaded. */
export function completionBody(id: string, model: string, fingerprint: string, created: number, text: string, finish: FinishReason, u: Usage) {
  return {
    id,
    object: "chat.completion" as const,
    created,
    model,
    system_fingerprint: fingerprint,
    choices: [{ index: 0, message: { role: "assistant" as const, content: text, refusal: null }, logprobs: null, finish_reason: finish }],
    usage: u,
  };
}

/** Builds the `data: {...}\n\n` lines of one stream; every chunk carries the same id, created and model. */
export function chunkWriter(id: string, model: string, fingerprint: string, created: number, includeUsage: boolean) {
  const head = `{"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":${JSON.stringify(fingerprint)},`;
  // With include_usage every chunk carries "usage": null except the last, as OpenAI does.
  const tail = includeUsage ? `,"usage":null}` : "}";
  const choice = (delta: string, finish: FinishReason | null) =>
    `data: ${head}"choices":[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish ? `"${finish}"` : "null"}}]${tail}\n\n`;
  return {
    role: () => choice(`{"role":"assistant","content":""}`, null),
    // Hand-assembled: this runs once per token, and only the content needs escaping.
    content: (text: string) => choice(`{"content":${JSON.stringify(text)}}`, null),
    finish: (finish: FinishReason) => choice("{}", finish),
    usage: (u: Usage) => `data: ${head}"choices":[],"usage":${JSON.stringify(u)}}\n\n`,
    error: (body: unknown) => `data: ${JSON.stringify(body)}\n\n`,
    done: () => "data: [DONE]\n\n",
  };
}
