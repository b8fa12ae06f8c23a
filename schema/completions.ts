// zod schemas for POST /v1/completions (OpenAI's legacy text completions, which FIM and
// autocomplete tools still call): the client body and the answer the gateway accepts from an
// OpenAI-compatible upstream. Known fields are validated; unknown top-level fields pass through to
// OpenAI-compatible upstreams under the same rules as chat (chat-params.ts: a near miss is a 400
// with a hint, the rest is bounded).
import { z } from "zod";
import { unknownParamsCheck } from "./chat-params.ts";
import { boundedJson, MAX_BODY_DEPTH } from "./json-bounds.ts";
import { upstreamUsage } from "./openai.ts";

// Prompts per request (a batch answers one choice per prompt).
export const MAX_PROMPTS = 256;
// OpenAI's documented default when a request names no max_tokens.
export const DEFAULT_COMPLETION_TOKENS = 16;

const tokenId = z.number().int().min(0).max(2 ** 31 - 1);
const tokens = z.array(tokenId).min(1, "a token array prompt may not be empty");

const prompt = z.union([z.string(), z.array(z.string()).min(1).max(MAX_PROMPTS), tokens, z.array(tokens).min(1).max(MAX_PROMPTS)]);

const known = {
  model: z.string().min(1).max(256),
  prompt,
  // Text after the insertion point (fill-in-the-middle).
  suffix: z.string().nullish(),
  // 0 is allowed: with echo, it scores the prompt without generating.
  max_tokens: z.number().int().min(0).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  // One choice per request, as on chat: n > 1 is refused with a 400 in the route.
  n: z.number().int().min(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  // The number of most likely tokens to return log probabilities for (OpenAI: at most 5).
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  // Candidates generated server-side, the best returned (OpenAI: at most 20).
  best_of: z.number().int().min(1).max(20).nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  user: z.string().max(256).optional(),
  seed: z.number().int().nullish(),
};

// Its parameters' names: strict_params refuses anything else (workers/router/params.ts).
export const knownCompletionParams: ReadonlySet<string> = new Set(Object.keys(known));

export const completionRequest = z
  .looseObject(known)
  .superRefine(unknownParamsCheck(new Set(Object.keys(known))))
  .superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true));

export type CompletionRequest = z.infer<typeof completionRequest>;

// The prompt as one text when it is one (a string, or a batch of one string); null for a batch
// or token ids, which only an upstream that speaks completions natively can take.
export function singleTextPrompt(prompt: CompletionRequest["prompt"]): string | null {
  if (typeof prompt === "string") return prompt;
  if (prompt.length === 1 && typeof prompt[0] === "string") return prompt[0];
  return null;
}

// ~4 characters per token for text, exact for token ids.
export function promptTokens(prompt: CompletionRequest["prompt"]): number {
  if (typeof prompt === "string") return Math.ceil(prompt.length / 4);
  let total = 0;
  for (const p of prompt as (string | number | number[])[]) total += typeof p === "string" ? Math.ceil(p.length / 4) : typeof p === "number" ? 1 : p.length;
  return total;
}

// What an OpenAI-compatible upstream answers (extra fields kept).
export const completionResponse = z.looseObject({
  id: z.string(),
  object: z.literal("text_completion"),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      text: z.string(),
      finish_reason: z.string().nullable(),
    }),
  ),
  usage: upstreamUsage,
});

export type CompletionResponse = z.infer<typeof completionResponse>;
