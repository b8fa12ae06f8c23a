// zod schemas for Anthropic's Messages API as the gateway accepts it on POST /v1/messages and
// /v1/messages/count_tokens (Claude-native clients, @anthropic-ai/sdk with a base-URL override).
// Like the chat schema: strict at the top level (a misspelt or unsupported parameter is a clear
// 400), nested objects keep unknown fields (Anthropic grows them; an Anthropic upstream gets them
// as sent), free-form JSON (tool input schemas, tool inputs) bounded in depth and size.
// Content blocks the gateway can neither carry nor translate (server tool results, search
// results, container uploads, Files API sources) are refused by name: the discriminated unions
// below list what is accepted.
import { z } from "zod";
import { boundedJson, MAX_BODY_DEPTH, MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES } from "./json-bounds.ts";

const cacheControl = z.looseObject({ type: z.literal("ephemeral"), ttl: z.enum(["5m", "1h"]).optional() }).nullish();

const textBlock = z.looseObject({
  type: z.literal("text"),
  text: z.string(),
  cache_control: cacheControl,
});

const imageBlock = z.looseObject({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [
    z.looseObject({
      type: z.literal("base64"),
      media_type: z.enum(["image/jpeg", "image/png", "image/gif", "image/webp"]),
      data: z.string().min(1),
    }),
    z.looseObject({ type: z.literal("url"), url: z.string().url().max(8192) }),
  ]),
  cache_control: cacheControl,
});

// PDFs (base64) and plain-text documents; URL, Files API and custom-content sources are refused.
const documentBlock = z.looseObject({
  type: z.literal("document"),
  source: z.discriminatedUnion("type", [
    z.looseObject({ type: z.literal("base64"), media_type: z.literal("application/pdf"), data: z.string().min(1) }),
    z.looseObject({ type: z.literal("text"), media_type: z.literal("text/plain"), data: z.string() }),
  ]),
  title: z.string().max(1024).nullish(),
  context: z.string().nullish(),
  cache_control: cacheControl,
});

const toolUseBlock = z.looseObject({
  type: z.literal("tool_use"),
  id: z.string().min(1).max(256),
  name: z.string().min(1).max(256),
  input: z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)),
  cache_control: cacheControl,
});

const toolResultBlock = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1).max(256),
  content: z.union([z.string(), z.array(z.discriminatedUnion("type", [textBlock, imageBlock, documentBlock]))]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});

const thinkingBlock = z.looseObject({ type: z.literal("thinking"), thinking: z.string(), signature: z.string() });
const redactedThinkingBlock = z.looseObject({ type: z.literal("redacted_thinking"), data: z.string() });

export const userBlock = z.discriminatedUnion("type", [textBlock, imageBlock, documentBlock, toolResultBlock]);
export const assistantBlock = z.discriminatedUnion("type", [textBlock, toolUseBlock, thinkingBlock, redactedThinkingBlock]);

const systemContent = z.union([z.string(), z.array(textBlock)]);

export const anthropicMessage = z.discriminatedUnion("role", [
  z.looseObject({ role: z.literal("user"), content: z.union([z.string(), z.array(userBlock).min(1)]) }),
  z.looseObject({ role: z.literal("assistant"), content: z.union([z.string(), z.array(assistantBlock)]) }),
  // The SDK's SystemMessageParam: a system turn inside the conversation.
  z.looseObject({ role: z.literal("system"), content: systemContent }),
]);

// Custom tools only. Anthropic's server and client-defined tool types (web_search_*, bash_*,
// text_editor_*, computer_*, code_execution_*, ...) run on Anthropic's side or need its beta
// contracts; no other upstream can honour them, so they are refused.
const tool = z.looseObject({
  type: z
    .literal("custom", { error: "only custom tools (name, description, input_schema) are supported; Anthropic server tools are not" })
    .nullish(),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,128}$/, "tool names are 1-128 of a-z, A-Z, 0-9, _ and -"),
  description: z.string().max(100_000).optional(),
  input_schema: z
    .looseObject({ type: z.literal("object") })
    .superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)),
  strict: z.boolean().optional(),
  cache_control: cacheControl,
});

const toolChoice = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal("tool"), name: z.string().min(1), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal("none") }),
]);

const thinking = z.discriminatedUnion("type", [
  // Anthropic's own minimum budget.
  z.looseObject({ type: z.literal("enabled"), budget_tokens: z.number().int().min(1024), display: z.enum(["summarized", "omitted"]).nullish() }),
  z.looseObject({ type: z.literal("disabled") }),
  z.looseObject({ type: z.literal("adaptive"), display: z.enum(["summarized", "omitted"]).nullish() }),
]);

const outputConfig = z.looseObject({
  effort: z.enum(["low", "medium", "high", "xhigh", "max"]).nullish(),
  format: z
    .looseObject({
      type: z.literal("json_schema"),
      schema: z.record(z.string(), z.unknown()).superRefine(boundedJson(MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES)),
    })
    .nullish(),
});

// Fields both endpoints take (count_tokens takes the request minus the sampling controls).
const promptShape = {
  model: z.string().min(1).max(256),
  messages: z.array(anthropicMessage).min(1).max(10_000),
  system: systemContent.optional(),
  tools: z.array(tool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  thinking: thinking.optional(),
  cache_control: cacheControl,
  output_config: outputConfig.optional(),
};

export const messagesRequest = z
  .strictObject({
    ...promptShape,
    max_tokens: z.number().int().positive(),
    stop_sequences: z.array(z.string().min(1).max(1024)).max(64).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().positive().optional(),
    metadata: z.looseObject({ user_id: z.string().max(256).nullish() }).optional(),
    stream: z.boolean().optional(),
    service_tier: z.enum(["auto", "standard_only"]).optional(),
  })
  .superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true))
  .superRefine((body, ctx) => {
    if (body.thinking?.type === "enabled" && body.thinking.budget_tokens >= body.max_tokens) {
      ctx.addIssue({ code: "custom", message: "thinking.budget_tokens must be less than max_tokens", path: ["thinking", "budget_tokens"] });
    }
  });

export type MessagesRequest = z.infer<typeof messagesRequest>;
export type AnthropicMessage = z.infer<typeof anthropicMessage>;

export const countTokensRequest = z.strictObject(promptShape).superRefine(boundedJson(MAX_BODY_DEPTH, undefined, true));

export type CountTokensRequest = z.infer<typeof countTokensRequest>;

// anthropic-version: a date; missing means the first stable version (what Anthropic assumes for
// the fields the gateway reads).
export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";
export const anthropicVersion = /^\d{4}-\d{2}-\d{2}$/;

// Anthropic's count_tokens answer (from an Anthropic upstream).
export const tokensCount = z.looseObject({ input_tokens: z.number().int().nonnegative() });

// The client's own Messages body travels with the translated chat request under this key, so an
// Anthropic upstream can be sent what the client sent (thinking blocks with their signatures,
// cache_control, documents) with only the model swapped, while every other upstream gets the chat
// translation. A symbol: JSON (cache keys, logs, OpenAI-compatible bodies) never sees it, and
// zod never lets a client set it.
export const NATIVE_ANTHROPIC = Symbol.for("edgeclaw.anthropic.native-body");

export type WithNativeAnthropic = { [NATIVE_ANTHROPIC]?: Record<string, unknown> };

export function nativeAnthropicBody(request: object): Record<string, unknown> | undefined {
  return (request as WithNativeAnthropic)[NATIVE_ANTHROPIC];
}
