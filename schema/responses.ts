// zod schemas for POST /v1/responses (OpenAI's Responses API), the subset a gateway in front of
// chat-completions upstreams can honour: text and image input, function tools and their call
// and output items, structured output, and the stored-conversation fields. The top level is
// strict (a misspelt parameter is a 400 naming it); item and part objects keep unknown fields,
// as OpenAI adds them often (ids, statuses, annotations) and they carry no meaning here.
// Item and tool types the gateway cannot serve (hosted tools, computer use, item references)
// are refused before this schema runs, with a message naming the type (workers/api/responses/
// refuse.ts), so a union failure here is always a malformed known item.
// Other top-level fields are handled like a chat request's (schema/chat-params.ts): a near miss
// of a Responses parameter (`max_output_token`) is a 400 with a did-you-mean hint; the rest is
// bounded and handed to the chat request (vLLM's top_k through the SDK's extra_body, say), where
// the chat schema validates them and the route passes, drops or refuses them.
import { z } from "zod";
import { unknownParamsCheck } from "./chat-params.ts";
import { boundedJson, MAX_BODY_DEPTH, MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES } from "./json-bounds.ts";

// Far above any real conversation sent in one request (the body limit binds first), low enough
// that a hostile array of empty objects cannot make translation the expensive part.
export const MAX_INPUT_ITEMS = 10_000;
const MAX_PARTS = 1_000;

const inputText = z.looseObject({ type: z.literal("input_text"), text: z.string() });
const outputText = z.looseObject({ type: z.literal("output_text"), text: z.string() });
const refusal = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });
const inputImage = z
  .looseObject({
    type: z.literal("input_image"),
    image_url: z.string().min(1).nullish(),
    file_id: z.string().nullish(),
    detail: z.enum(["auto", "low", "high"]).nullish(),
  })
  .refine((p) => p.image_url != null || p.file_id != null, { message: "an input_image needs image_url (or file_id)", path: ["image_url"] });
const inputFile = z.looseObject({
  type: z.literal("input_file"),
  file_data: z.string().nullish(),
  file_id: z.string().nullish(),
  file_url: z.string().nullish(),
  filename: z.string().nullish(),
});

export const contentPart = z.discriminatedUnion("type", [inputText, outputText, refusal, inputImage, inputFile]);
export type ContentPart = z.infer<typeof contentPart>;

const callId = z.string().min(1).max(256);
const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "function names are 1-64 of a-z, A-Z, 0-9, _ and -");

const messageItem = z.looseObject({
  type: z.literal("message"),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(contentPart).max(MAX_PARTS)]),
});
const functionCallItem = z.looseObject({
  type: z.literal("function_call"),
  call_id: callId,
  name: functionName,
  arguments: z.string(),
});
const functionCallOutputItem = z.looseObject({
  type: z.literal("function_call_output"),
  call_id: callId,
  output: z.union([z.string(), z.array(contentPart).max(MAX_PARTS)]),
});
// Reasoning items from an earlier answer (clients send them back as they got them): the chat
// upstreams behind the gateway cannot take them, so they are accepted and left out.
const reasoningItem = z.looseObject({ type: z.literal("reasoning") });

// An EasyInputMessage has no `type`: it is a message (OpenAI reads it the same way).
export const inputItem = z.preprocess(
  (v) => (v !== null && typeof v === "object" && !Array.isArray(v) && (v as { type?: unknown }).type === undefined ? { ...v, type: "message" } : v),
  z.discriminatedUnion("type", [messageItem, functionCallItem, functionCallOutputItem, reasoningItem]),
);
export type InputItem = z.infer<typeof inputItem>;

const functionTool = z.looseObject({
  type: z.literal("function"),
  name: functionName,
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)).nullish(),
  strict: z.boolean().nullish(),
});
export type FunctionTool = z.infer<typeof functionTool>;

const namedFunction = z.looseObject({ type: z.literal("function"), name: functionName });
const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  namedFunction,
  z.looseObject({
    type: z.literal("allowed_tools"),
    mode: z.enum(["auto", "required"]),
    tools: z.array(namedFunction).min(1).max(128),
  }),
]);
export type ToolChoice = z.infer<typeof toolChoice>;

const textFormat = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({
    type: z.literal("json_schema"),
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
    schema: z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)),
    description: z.string().nullish(),
    strict: z.boolean().nullish(),
  }),
]);

// OpenAI's metadata bounds: 16 pairs, keys up to 64 characters, values up to 512.
const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, { message: "metadata holds at most 16 pairs" });

// Parameters OpenAI defines that the gateway cannot honour: accepted by the schema so the 400
// says "not supported" rather than "unrecognized" (workers/api/responses/to-chat.ts).
const unsupported = z.unknown().optional();

const responseParamShape = {
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(inputItem).max(MAX_INPUT_ITEMS)]).optional(),
  instructions: z.string().nullish(),
  // OpenAI's own limit.
  tools: z.array(functionTool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  text: z
    .looseObject({
      format: textFormat.optional(),
      verbosity: z.enum(["low", "medium", "high"]).nullish(),
    })
    .optional(),
  reasoning: z
    .looseObject({
      effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullish(),
      summary: z.enum(["auto", "concise", "detailed"]).nullish(),
      generate_summary: z.enum(["auto", "concise", "detailed"]).nullish(),
    })
    .nullish(),
  metadata: metadata.nullish(),
  user: z.string().max(256).optional(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().min(1).max(128).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_obfuscation: z.boolean().optional() }).nullish(),
  truncation: z.enum(["auto", "disabled"]).nullish(),
  include: z.array(z.string().max(128)).max(32).nullish(),
  service_tier: z.enum(["auto", "default", "flex", "scale", "priority"]).nullish(),
  prompt_cache_key: z.string().max(256).nullish(),
  prompt_cache_retention: z.enum(["in_memory", "24h"]).nullish(),
  safety_identifier: z.string().max(256).nullish(),
  // Only counts hosted-tool calls, which the gateway refuses: accepted and echoed.
  max_tool_calls: z.number().int().positive().nullish(),
  background: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  conversation: unsupported,
  prompt: unsupported,
  context_management: unsupported,
  access_programs: unsupported,
  image: unsupported,
  moderation: unsupported,
  prompt_cache_options: unsupported,
};

export const knownResponseParams: ReadonlySet<string> = new Set(Object.keys(responseParamShape));

export const responseCreateRequest = z
  .looseObject(responseParamShape)
  .superRefine(unknownParamsCheck(knownResponseParams))
  // Item and part objects keep unknown fields: bound how deep anything nests.
  .superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true));

export type ResponseCreateRequest = z.infer<typeof responseCreateRequest>;

// GET /v1/responses/:id and DELETE: the id as the gateway mints it.
export const responseId = z.string().regex(/^resp_[0-9a-f]{48}$/);
