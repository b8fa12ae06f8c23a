// zod schemas for the OpenAI-compatible payloads the gateway accepts (client bodies) and reads
// (upstream answers). Every parameter the gateway knows (OpenAI's current chat fields and the
// sampling fields vLLM and llama.cpp users send through extra_body) is validated here. Other
// top-level fields are kept (looseObject) and checked by chat-params.ts: a near miss of a known
// name (`max_token`) is a 400 with a did-you-mean hint, the rest is bounded and passed through to
// OpenAI-compatible upstreams (or dropped, and named, for families that cannot carry it; a route
// may refuse them instead, see route-config.ts). Nested objects keep unknown fields too, because
// OpenAI grows them often and upstreams understand them. Free-form JSON (schemas, tool
// parameters, passed-through fields) is bounded in depth and size (json-bounds.ts): upstreams
// walk it recursively.
import { z } from "zod";
import { unknownParamsCheck } from "./chat-params.ts";
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

const toolCall = z.discriminatedUnion("type", [
  z.looseObject({
    id: z.string().min(1),
    type: z.literal("function"),
    function: z.looseObject({ name: z.string().min(1), arguments: z.string() }),
  }),
  // A call of a custom (free-form input) tool.
  z.looseObject({
    id: z.string().min(1),
    type: z.literal("custom"),
    custom: z.looseObject({ name: z.string().min(1), input: z.string() }),
  }),
]);

// The legacy (pre-tools) shape of a call in an assistant message.
const functionCall = z.looseObject({ name: z.string().min(1), arguments: z.string() });

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
      function_call: functionCall.nullish(),
      // A reference to an earlier audio answer (audio output).
      audio: z.looseObject({ id: z.string().min(1) }).nullish(),
      name,
    })
    .refine((m) => m.content != null || (m.tool_calls?.length ?? 0) > 0 || m.function_call != null || m.audio != null, {
      message: "an assistant message needs content, tool_calls or function_call",
      path: ["content"],
    }),
  z.looseObject({
    role: z.literal("tool"),
    content: textContent,
    tool_call_id: z.string().min(1),
  }),
  // Legacy: the result of a function_call, matched by name.
  z.looseObject({ role: z.literal("function"), content: z.string().nullable(), name: z.string().min(1).max(256) }),
]);

const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "function names are 1-64 of a-z, A-Z, 0-9, _ and -");
const jsonSchema = z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES));

const functionDefinition = z.looseObject({
  name: functionName,
  description: z.string().optional(),
  parameters: jsonSchema.optional(),
  strict: z.boolean().nullish(),
});

const tool = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("function"), function: functionDefinition }),
  // A tool whose input is free text, optionally constrained by a grammar (GPT-5 custom tools).
  z.looseObject({
    type: z.literal("custom"),
    custom: z.looseObject({
      name: functionName,
      description: z.string().optional(),
      format: z
        .discriminatedUnion("type", [
          z.looseObject({ type: z.literal("text") }),
          z.looseObject({
            type: z.literal("grammar"),
            grammar: z.looseObject({ definition: z.string().max(100_000), syntax: z.enum(["lark", "regex"]) }),
          }),
        ])
        .optional(),
    }),
  }),
]);

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.discriminatedUnion("type", [
    z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: z.string().min(1) }) }),
    z.looseObject({ type: z.literal("custom"), custom: z.looseObject({ name: z.string().min(1) }) }),
    // Restrict this request to a subset of `tools` without changing the list (keeps the
    // prompt cache warm).
    z.looseObject({
      type: z.literal("allowed_tools"),
      allowed_tools: z.looseObject({
        mode: z.enum(["auto", "required"]),
        tools: z.array(z.record(z.string(), z.unknown())).max(128),
      }),
    }),
  ]),
]);

const responseFormat = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({
    type: z.literal("json_schema"),
    json_schema: z.looseObject({
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
      description: z.string().optional(),
      schema: jsonSchema.optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const positiveInt = z.number().int().positive();
const shortText = z.string().max(256);

// OpenAI's reasoning effort levels (openai SDK's ReasoningEffort).
export const reasoningEfforts = ["none", "minimal", "low", "medium", "high", "xhigh", "max"] as const;
export type ReasoningEffort = (typeof reasoningEfforts)[number];

// Every top-level field the gateway knows, with its validation. A new field is added here, to
// each adapter's parameter map (the compiler insists), and to the table in docs/api.md.
export const chatParamShape = {
  model: z.string().min(1).max(256),
  messages: z.array(chatMessage).min(1),
  // OpenAI's own limit.
  tools: z.array(tool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  // Legacy function calling (before tools); translated to tools for other families.
  functions: z.array(functionDefinition).min(1).max(128).optional(),
  function_call: z.union([z.enum(["none", "auto"]), z.looseObject({ name: z.string().min(1) })]).optional(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  max_tokens: positiveInt.nullish(),
  max_completion_tokens: positiveInt.nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: z.number().int().nullish(),
  response_format: responseFormat.optional(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).nullish(),
  user: shortText.optional(),
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
  reasoning_effort: z.enum(reasoningEfforts).nullish(),
  service_tier: z.enum(["auto", "default", "flex", "scale", "priority", "fast"]).nullish(),
  verbosity: z.enum(["low", "medium", "high"]).nullish(),
  prompt_cache_key: shortText.nullish(),
  prompt_cache_retention: z.enum(["in_memory", "24h"]).nullish(),
  prompt_cache_options: z.looseObject({ mode: z.enum(["implicit", "explicit"]).optional(), ttl: z.string().max(16).optional() }).nullish(),
  safety_identifier: shortText.nullish(),
  modalities: z.array(z.enum(["text", "audio"])).max(2).nullish(),
  audio: z
    .looseObject({
      format: z.enum(["wav", "aac", "mp3", "flac", "opus", "pcm16"]),
      voice: z.union([shortText, z.looseObject({ id: shortText })]),
    })
    .nullish(),
  prediction: z.looseObject({ type: z.literal("content"), content: textContent }).nullish(),
  web_search_options: z
    .looseObject({
      search_context_size: z.enum(["low", "medium", "high"]).optional(),
      user_location: z
        .looseObject({
          type: z.literal("approximate"),
          approximate: z.looseObject({
            city: shortText.optional(),
            country: shortText.optional(),
            region: shortText.optional(),
            timezone: shortText.optional(),
          }),
        })
        .nullish(),
    })
    .optional(),
  moderation: z.looseObject({ model: shortText }).nullish(),
  // Sampling fields of vLLM and llama.cpp (sent through the SDKs' extra_body). Their ranges are
  // the servers' own: top_k -1 (vLLM) or 0 (llama.cpp) turns it off; min_tokens is vLLM's.
  top_k: z.number().int().min(-1).max(100_000).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  repetition_penalty: z.number().gt(0).max(10).nullish(),
  min_tokens: z.number().int().min(0).nullish(),
};

export type KnownChatParam = keyof typeof chatParamShape;
export const knownChatParams: ReadonlySet<string> = new Set(Object.keys(chatParamShape));

export const chatCompletionRequest = z
  .looseObject(chatParamShape)
  // Unknown top-level fields: no near misses of known names, bounded in number and size.
  .superRefine(unknownParamsCheck(knownChatParams))
  // Nested objects pass unknown fields through to the upstream: bound how deep anything nests.
  .superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true));

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

// An upstream answer's token counts (chat completions and legacy completions alike).
export const upstreamUsage = z
  .looseObject({
    prompt_tokens: z.number(),
    completion_tokens: z.number(),
    total_tokens: z.number(),
  })
  .nullish();

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
  usage: upstreamUsage,
});

export type ChatCompletionResponse = z.infer<typeof chatCompletionResponse>;

// An OpenAI-shaped error body, as upstreams send it (message is all the gateway relies on).
export const upstreamErrorBody = z.looseObject({
  error: z.union([
    z.looseObject({ message: z.string(), code: z.unknown().optional() }),
    z.string(),
  ]),
});
