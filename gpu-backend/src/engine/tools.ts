// OpenAI tools in node-llama-cpp terms.
//
// tool_choice "auto": LlamaChat's own function calling. The functions are described in the chat
// wrapper's words, and once the model starts a call (the wrapper's call prefix) node-llama-cpp's
// grammar forces a known name and parameters valid against the schema. Whether the model calls at
// all is up to the model.
// "required" and a named function: the answer itself is grammar-constrained, as vLLM does it: a
// named function's answer is its arguments object; "required" answers a JSON array of
// {"name", "arguments"} objects (one item unless parallel calls are allowed), each item one of the
// declared functions with its own parameter schema. Even a random-weight model answers a valid call.
import { randomBytes } from "node:crypto";
import type { ChatModelFunctions } from "node-llama-cpp";
import type { FunctionCallOut } from "./loaded-model.ts";

export type ToolSpec = { name: string; description?: string; parameters?: object };

/** Most calls one "required" answer may hold when parallel calls are allowed. */
export const MAX_PARALLEL_CALLS = 8;

/** A function without parameters takes an empty object. */
const NO_PARAMS = { type: "object", properties: {} };

export function chatFunctions(tools: readonly ToolSpec[]): ChatModelFunctions {
  return Object.fromEntries(
    tools.map((t) => [t.name, { description: t.description, params: (t.parameters ?? NO_PARAMS) as ChatModelFunctions[string]["params"] }]),
  );
}

/** The JSON schema the forced answer must follow. */
export function forcedCallSchema(tools: readonly ToolSpec[], named: string | undefined, parallel: boolean): object {
  if (named !== undefined) return tools.find((t) => t.name === named)?.parameters ?? NO_PARAMS;
  const items = tools.map((t) => ({
    type: "object",
    properties: { name: { const: t.name }, arguments: t.parameters ?? NO_PARAMS },
    required: ["name", "arguments"],
  }));
  return { type: "array", items: items.length === 1 ? items[0] : { oneOf: items }, minItems: 1, maxItems: parallel ? MAX_PARALLEL_CALLS : 1 };
}

/** The calls in a forced answer, or null when it is not complete JSON (cut by max_tokens). */
export function parseForcedCalls(text: string, named: string | undefined): FunctionCallOut[] | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (named !== undefined) return [{ name: named, params: value }];
  if (!Array.isArray(value)) return null;
  return value.map((item: { name: string; arguments: unknown }) => ({ name: item.name, params: item.arguments }));
}

export const toolCallId = () => `call_${randomBytes(12).toString("base64url")}`;
