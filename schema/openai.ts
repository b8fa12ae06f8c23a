// zod schemas for the OpenAI-compatible payloads the gateway accepts (client bodies) and reads
// (upstream answers). Client bodies are strict at the top level, so a misspelt parameter
// (`max_token`) is a clear 400 instead of being silently dropped; nested objects keep unknown
// fields and pass them through, because OpenAI grows them often and upstreams understand them.
// Free-form JSON (schemas, tool parameters, passed-through fields) is bounded in depth and size
// (json-bounds.ts): upstreams walk it recursively.
import { z } from "zod";
import { boundedJson, MAX_BODY_DEPTH, MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES } from "./json-bounds.ts";

const textPart = z.looseObject({ type: z.literal("text"), text: z.string() });
const imagePart = z.looseObject({
  type: z.literal("image_url"),
  image_url: z.looseObject({
    url: z.string().min(1),
    detail: z.enum(["auto", "low", "high"]).optional(),
  }),
});
const audioPart = z.looseObject({
  type: z.literal("input_audio"),
  input_audio: z.looseObject({ data: z.string(), format: z.string() }),
});
const filePart = z.looseObject({
  type: z.literal("file"),
  file: z.looseObject({
    file_data: z.string().optional(),
    file_id: z.string().optional(),
    filename: z.string().optional(),
  }),
});
const refusalPart = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });

const textContent = z.union([z.string(), z.array(textPart).min(1)]);
const userContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion("type", [textPart, imagePart, audioPart, filePart])).min(1),
]);
const assistantContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion("type", [textPart, refusalPart])),
]);

const toolCall = z.looseObject({
  id: z.string().min(1),
  type: z.literal("function"),
  function: z.looseObject({ name: z.string().min(1), arguments: z.string() }),
});

const name = z.string().min(1).max(256).optional();

export const chatMessage = z.discriminatedUnion("role", [
  z.looseObject({ role: z.literal("system"), content: textContent, name }),
  z.looseObject({ role: z.literal("developer"), content: textContent, name }),
  z.looseObject({ role: z.literal("user"), content: userContent, name }),
  z
    .looseObject({
      role: z.literal("assistant"),
      content: assistantContent.nullish(),
      refusal: z.string().nullish(),
      tool_calls: z.array(toolCall).optional(),
      name,
    })
    .refine((m) => m.content != null || (m.tool_calls?.length ?? 0) > 0, {
      message: "an assistant message needs content or tool_calls",
      path: ["content"],
    }),
  z.looseObject({
    role: z.literal("tool"),
    content: textContent,
    tool_call_id: z.string().min(1),
  }),
]);

const tool = z.looseObject({
  type: z.literal("function"),
  function: z.looseObject({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,64}$/, "function names are 1-64 of a-z, A-Z, 0-9, _ and -"),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)).optional(),
    strict: z.boolean().nullish(),
  }),
});

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.looseObject({
    type: z.literal("function"),
    function: z.looseObject({ name: z.string().min(1) }),
  }),
]);

const responseFormat = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({
    type: z.literal("json_schema"),
    json_schema: z.looseObject({
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const positiveInt = z.number().int().positive();

export const chatCompletionRequest = z.strictObject({
  model: z.string().min(1).max(256),
  messages: z.array(chatMessage).min(1),
  // OpenAI's own limit.
  tools: z.array(tool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  max_tokens: positiveInt.nullish(),
  max_completion_tokens: positiveInt.nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  response_format: responseFormat.optional(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  user: z.string().max(256).optional(),
  // Only one choice per request: n > 1 is refused with a 400 in the route, so a client that asks
  // for several gets a clear answer instead of one choice.
  n: z.number().int().min(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.boolean().nullish(),
})
  // Nested objects pass unknown fields through to the upstream: bound how deep anything nests.
  .superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true));

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

// What the gateway needs to trust in an upstream's non-stream answer before handing it on:
// the OpenAI shape, with any extra fields kept.
export const chatCompletionResponse = z.looseObject({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.number(),
  model: z.string(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      message: z.looseObject({ role: z.literal("assistant") }),
      finish_reason: z.string().nullable(),
    }),
  ),
  usage: z
    .looseObject({
      prompt_tokens: z.number(),
      completion_tokens: z.number(),
      total_tokens: z.number(),
    })
    .nullish(),
});

export type ChatCompletionResponse = z.infer<typeof chatCompletionResponse>;

// An OpenAI-shaped error body, as upstreams send it (message is all the gateway relies on).
export const upstreamErrorBody = z.looseObject({
  error: z.union([
    z.looseObject({ message: z.string(), code: z.unknown().optional() }),
    z.string(),
  ]),
});
