// The subset of OpenAI's chat completions request this backend honours. Fields a router commonly
// forwards but that do not change local generation (user, metadata, ...) are accepted and ignored;
// fields it cannot honour are refused by name rather than silently dropped.
import { z } from "zod";

const TextPart = z.object({ type: z.literal("text"), text: z.string() });
// Any other part type parses, so the refusal can name it precisely (see toChatMessages).
const OtherPart = z.looseObject({ type: z.string() });
const Content = z.union([z.string(), z.array(z.union([TextPart, OtherPart]))]);

// OpenAI's function names: what the chat wrapper's call syntax and the grammars can carry verbatim.
export const FunctionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "function names are 1 to 64 letters, digits, '_' or '-'");

const ToolCall = z.object({
  id: z.string().min(1).max(256),
  type: z.literal("function"),
  function: z.object({ name: FunctionName, arguments: z.string().max(1_000_000) }),
});

const Message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: Content.nullable().optional(),
  name: z.string().optional(),
  tool_calls: z.array(ToolCall).max(128).nullable().optional(),
  tool_call_id: z.string().min(1).max(256).optional(),
});

// The JSON Schema subset node-llama-cpp compiles into a grammar. Its compiler silently treats what
// it does not understand as "any", so malformed schemas are refused here, by path.
const JsonType = z.enum(["string", "number", "integer", "boolean", "object", "array", "null"]);
type JsonSchemaNode = { [key: string]: unknown };
export const JsonSchema: z.ZodType<JsonSchemaNode> = z.lazy(() =>
  z.looseObject({
    type: z.union([JsonType, z.array(JsonType).min(1)]).optional(),
    properties: z.record(z.string(), JsonSchema).optional(),
    required: z.array(z.string()).optional(),
    additionalProperties: z.union([z.boolean(), JsonSchema]).optional(),
    items: z.union([z.boolean(), JsonSchema]).optional(),
    prefixItems: z.array(JsonSchema).optional(),
    oneOf: z.array(JsonSchema).min(1).optional(),
    anyOf: z.array(JsonSchema).min(1).optional(),
    allOf: z.array(JsonSchema).min(1).optional(),
    enum: z.array(z.unknown()).min(1).optional(),
    $defs: z.record(z.string(), JsonSchema).optional(),
  }),
);

const Tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: FunctionName,
    description: z.string().max(16_384).optional(),
    parameters: JsonSchema.optional(),
    strict: z.boolean().nullable().optional(),
  }),
});
export type Tool = z.infer<typeof Tool>;

export const ToolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: FunctionName }) }),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

const tokens = z.number().int().min(1).nullable().optional();
const MAX_STOP_CHARS = 1024;
const penalty = z.number().min(-2).max(2).nullable().optional();

// Sampling and streaming fields chat and /v1/completions share.
export const samplingFields = {
  max_tokens: tokens,
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  // The token loop tests each stop string against the tail of the text on every token: bounded.
  stop: z.union([z.string().max(MAX_STOP_CHARS), z.array(z.string().min(1).max(MAX_STOP_CHARS)).max(4)]).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: z.number().int().min(1).nullable().optional(),
  frequency_penalty: penalty,
  presence_penalty: penalty,
  user: z.string().optional(),
};

export const ChatCompletionRequest = z.looseObject({
  ...samplingFields,
  model: z.string().min(1),
  messages: z.array(Message).min(1, "at least one message is required"),
  max_completion_tokens: tokens,
  response_format: z
    .discriminatedUnion("type", [
      z.object({ type: z.literal("text") }),
      z.object({ type: z.literal("json_object") }),
      z.object({
        type: z.literal("json_schema"),
        json_schema: z.object({ name: z.string().min(1), schema: JsonSchema.optional(), strict: z.boolean().nullable().optional() }),
      }),
    ])
    .optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  tools: z.array(Tool).max(128).nullable().optional(),
  tool_choice: ToolChoice.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
});

export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

export const ModelLoadRequest = z.object({
  path: z.string().min(1).max(4096),
  contextSize: z.number().int().min(64).optional(),
  slots: z.number().int().min(1).max(256).optional(),
  gpuLayers: z.union([z.number().int().min(0), z.enum(["auto", "max"])]).optional(),
});
