// zod schemas for POST /v1/embeddings (OpenAI's contract): the client body, and the answer the
// gateway accepts from an OpenAI-compatible upstream before handing it on. Known fields are
// validated; unknown top-level fields are passed through to OpenAI-compatible upstreams (vLLM's
// truncate_prompt_tokens, an embedding provider's input_type), bounded in depth like every
// passed-through value. A batch is bounded in inputs and in size (BATCH_LIMITS): beyond either
// the client gets a 400 naming the limit, never a call the upstream would refuse after the
// gateway reserved its budget.
import { z } from "zod";
import { unknownParamsCheck } from "./chat-params.ts";
import { boundedJson, MAX_BODY_DEPTH } from "./json-bounds.ts";

export const BATCH_LIMITS = {
  // OpenAI's own limit on inputs per request.
  inputs: 2048,
  // Estimated tokens in all inputs together (OpenAI's per-request limit is 300,000).
  tokens: 300_000,
  // Tokens of one token-array input (OpenAI's per-input limit for its current models is 8,192).
  tokensPerInput: 8192,
} as const;

// A token id: OpenAI's vocabularies are far below 2^31.
const tokenId = z.number().int().min(0).max(2 ** 31 - 1);
const tokens = z.array(tokenId).min(1, "a token array input may not be empty").max(BATCH_LIMITS.tokensPerInput);

// The batch's size is checked after the shape (below), so a batch of 3,000 strings is told it is
// too long, not that its first item is not a number.
const input = z.union([
  z.string().min(1, "input may not be an empty string"),
  z.array(z.string().min(1, "input may not hold an empty string")).min(1),
  tokens,
  z.array(tokens).min(1),
]);

const known = {
  model: z.string().min(1).max(256),
  input,
  encoding_format: z.enum(["float", "base64"]).optional(),
  // Matryoshka-style shortening; OpenAI's largest model has 3,072 dimensions.
  dimensions: z.number().int().min(1).max(65_536).optional(),
  user: z.string().max(256).optional(),
};

// Its parameters' names: strict_params refuses anything else (workers/router/params.ts).
export const knownEmbeddingParams: ReadonlySet<string> = new Set(Object.keys(known));

export const embeddingRequest = z
  .looseObject(known)
  // A near miss of a known name (`dimension`) is a 400 with a hint; the rest is bounded.
  .superRefine(unknownParamsCheck(new Set(Object.keys(known))))
  .superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true))
  .superRefine((body, ctx) => {
    const count = inputList(body.input).length;
    if (count > BATCH_LIMITS.inputs) {
      ctx.addIssue({ code: "custom", path: ["input"], message: `the batch holds ${count} inputs; at most ${BATCH_LIMITS.inputs} are allowed per request: split it` });
      return;
    }
    const estimate = embeddingTokens(body.input);
    if (estimate > BATCH_LIMITS.tokens) {
      ctx.addIssue({ code: "custom", path: ["input"], message: `the batch holds about ${estimate} tokens; at most ${BATCH_LIMITS.tokens} are allowed per request: split it` });
    }
  });

export type EmbeddingRequest = z.infer<typeof embeddingRequest>;
export type EmbeddingInput = EmbeddingRequest["input"];

// The inputs as a list (a single string or token array is a batch of one).
export function inputList(input: EmbeddingInput): (string | number[])[] {
  if (typeof input === "string") return [input];
  if (input.length > 0 && typeof input[0] === "number") return [input as number[]];
  return input as (string | number[])[];
}

// ~4 characters per token for text, exact for token arrays: what limits and budgets reserve, and
// the usage counted when an upstream reports none.
export function embeddingTokens(input: EmbeddingInput): number {
  let total = 0;
  for (const item of inputList(input)) total += typeof item === "string" ? Math.ceil(item.length / 4) : item.length;
  return total;
}

// What an OpenAI-compatible upstream answers: a list of embeddings (float arrays, or base64 of
// little-endian float32 when asked), in any order by index.
export const embeddingResponse = z.looseObject({
  object: z.literal("list").optional(),
  data: z.array(
    z.looseObject({
      object: z.literal("embedding").optional(),
      index: z.number().int().min(0),
      embedding: z.union([z.array(z.number()), z.string()]),
    }),
  ),
  model: z.string().optional(),
  usage: z.looseObject({ prompt_tokens: z.number().int().min(0), total_tokens: z.number().int().min(0).optional() }).nullish(),
});

export type EmbeddingResponse = z.infer<typeof embeddingResponse>;
