// Requests of the routes beside chat: /v1/completions, /v1/embeddings, and vLLM's /tokenize and
// /detokenize. Same rules as schema.ts: fields a router forwards but that change nothing here are
// accepted and ignored; what cannot be honoured is refused by name (in the routes).
import { z } from "zod";
import { ChatCompletionRequest, samplingFields } from "./schema.ts";

/** Inputs per embeddings request, and the most tokens all of them may hold together. */
export const MAX_EMBEDDING_INPUTS = 256;
export const MAX_EMBEDDING_TOKENS = 32_768;
/** Token ids in one request (prompt or detokenize). */
const MAX_TOKEN_IDS = 131_072;

const tokenId = z.number().int().min(0);
const tokenIds = z.array(tokenId).min(1, "a token array needs at least one token").max(MAX_TOKEN_IDS);
const one = "send one prompt per request; several prompts in one request are not supported";

export const CompletionRequest = z.looseObject({
  model: z.string().min(1),
  prompt: z.union([z.string(), z.array(z.string()).length(1, one), tokenIds, z.array(tokenIds).length(1, one)]),
  ...samplingFields,
  echo: z.boolean().nullable().optional(),
  suffix: z.string().nullable().optional(),
  logprobs: z.number().int().min(0).max(5).nullable().optional(),
  best_of: z.number().int().min(1).nullable().optional(),
});
export type CompletionRequest = z.infer<typeof CompletionRequest>;

export const EmbeddingRequest = z.looseObject({
  model: z.string().min(1),
  input: z.union([
    z.string().min(1, "an input must not be empty"),
    z.array(z.string().min(1, "an input must not be empty")).min(1).max(MAX_EMBEDDING_INPUTS),
    tokenIds,
    z.array(tokenIds).min(1).max(MAX_EMBEDDING_INPUTS),
  ]),
  encoding_format: z.enum(["float", "base64"]).nullable().optional(),
  dimensions: z.number().int().min(1).nullable().optional(),
  user: z.string().optional(),
});
export type EmbeddingRequest = z.infer<typeof EmbeddingRequest>;

// vLLM's tokenizer routes: a raw prompt, or chat messages rendered with the model's template.
export const TokenizeRequest = z.union([
  z.strictObject({ model: z.string().min(1), prompt: z.string(), add_special_tokens: z.boolean().optional() }),
  z.strictObject({
    model: z.string().min(1),
    messages: ChatCompletionRequest.shape.messages,
    add_generation_prompt: z.boolean().optional(),
    add_special_tokens: z.boolean().optional(),
  }),
]);
export type TokenizeRequest = z.infer<typeof TokenizeRequest>;

export const DetokenizeRequest = z.object({ model: z.string().min(1), tokens: z.array(tokenId).max(MAX_TOKEN_IDS) });
