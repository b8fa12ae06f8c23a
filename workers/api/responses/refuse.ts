// What the gateway cannot serve, refused with a 400 that says so (rather than the schema's
// "invalid value" or a silent drop): hosted tools (web search, file search, computer use, code
// interpreter, MCP, ...), the item types that only they produce, item references into OpenAI's
// own storage, and parameters that need OpenAI-side state or machinery.
import type { ResponseCreateRequest } from "../../../schema/responses.ts";
import { ApiError } from "../../http/errors.ts";

const ITEM_TYPES = new Set(["message", "function_call", "function_call_output", "reasoning"]);

// On the raw body, before the schema: the schema would only say "invalid input" for these.
export function refuseUnsupportedShapes(body: unknown): void {
  if (body === null || typeof body !== "object") return;
  const { tools, input } = body as { tools?: unknown; input?: unknown };
  if (Array.isArray(tools)) {
    tools.forEach((tool, i) => {
      const type = typeOf(tool);
      if (type !== undefined && type !== "function") {
        throw new ApiError(
          400,
          "unsupported_tool",
          `Tool type '${type}' is not supported: EdgeClaw serves function tools only (hosted tools run inside OpenAI; declare a function tool and run it yourself).`,
          { param: `tools[${i}].type` },
        );
      }
    });
  }
  if (Array.isArray(input)) {
    input.forEach((item, i) => {
      const type = typeOf(item);
      if (type !== undefined && !ITEM_TYPES.has(type)) {
        throw new ApiError(
          400,
          "unsupported_value",
          `Input items of type '${type}' are not supported: send message, function_call, function_call_output or reasoning items${type === "item_reference" ? " (use previous_response_id to continue a stored conversation)" : ""}.`,
          { param: `input[${i}].type` },
        );
      }
    });
  }
}

// After the schema: parameters OpenAI defines that need what the gateway does not have.
export function refuseUnsupportedParams(req: ResponseCreateRequest): void {
  const refuse = (param: string, why: string) => {
    throw new ApiError(400, "unsupported_parameter", `Unsupported parameter: '${param}' ${why}.`, { param });
  };
  if (req.background === true) refuse("background", "is not supported: answers are returned (or streamed) on the request itself");
  if (req.conversation != null) refuse("conversation", "is not supported: chain responses with previous_response_id");
  if (req.prompt != null) refuse("prompt", "is not supported: prompt templates live in OpenAI's dashboard; send instructions and input");
  if (req.context_management != null) refuse("context_management", "is not supported");
  if (req.access_programs != null) refuse("access_programs", "is not supported");
  if (req.image != null) refuse("image", "is not supported");
  if (req.moderation != null) refuse("moderation", "is not supported");
  if (req.prompt_cache_options != null) refuse("prompt_cache_options", "is not supported");
  if (req.top_logprobs != null && req.top_logprobs > 0) refuse("top_logprobs", "is not supported on /v1/responses: use /v1/chat/completions with logprobs");
}

function typeOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const type = (value as { type?: unknown }).type;
  return typeof type === "string" ? type.slice(0, 64) : undefined;
}
