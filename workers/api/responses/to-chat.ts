// A Responses request as a chat-completions request, so the chat pipeline (routes, limits,
// budgets, breakers, cache, every provider adapter) serves it unchanged:
//   instructions              -> a leading system message (never carried over from a previous
//                                response, as OpenAI does)
//   message items             -> messages of the same role; input_text/output_text -> text,
//                                input_image -> image_url, input_file -> file
//   function_call items       -> the assistant message's tool_calls (merged into the assistant
//                                message just before them, as one chat turn)
//   function_call_output      -> a tool message
//   reasoning items           -> left out (chat upstreams take none)
//   tools / tool_choice       -> chat function tools; allowed_tools narrows the tool list
//   text.format               -> response_format; max_output_tokens -> max_completion_tokens;
//   reasoning.effort          -> reasoning_effort, text.verbosity -> verbosity, and
//                                service_tier, prompt_cache_key, prompt_cache_retention,
//                                safety_identifier as they are, where the chat schema knows them
//   other top-level fields    -> the chat request as they are (vLLM's top_k, seed, stop, ...),
//                                except chat fields that have a Responses equivalent (refused,
//                                naming it) or that produce what a Response cannot carry
// The result is checked against the chat schema, so the pipeline gets what a chat client could
// have sent (and the route passes, drops or refuses the extra fields like a chat request's).
import { chatCompletionRequest, type ChatCompletionRequest } from "../../../schema/openai.ts";
import { knownResponseParams, type ContentPart, type InputItem, type ResponseCreateRequest } from "../../../schema/responses.ts";
import { ApiError } from "../../http/errors.ts";
import type { OutputItem } from "./shape.ts";

// An item of the conversation: what a client sent, or an output item of a stored response.
export type ConversationItem = InputItem | OutputItem;

type ChatMessage = Record<string, unknown> & { role: string };
type ToolCall = { id: string; type: "function"; function: { name: string; arguments: string } };

// Where an item came from, for the `param` of a 400: the request's own input, or a stored
// response of the chain (which the client cannot fix field by field).
export type Placed = { item: ConversationItem; param: string };

export function toChatRequest(req: ResponseCreateRequest, conversation: Placed[], stream: boolean): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (req.instructions) messages.push({ role: "system", content: req.instructions });
  messages.push(...toMessages(conversation));
  if (!messages.some((m) => m.role !== "system" && m.role !== "developer")) {
    throw new ApiError(400, "missing_required_parameter", "Missing required parameter: 'input' (give at least one message, or a previous_response_id).", { param: "input" });
  }

  const chat: Record<string, unknown> = { model: req.model, messages };
  Object.assign(chat, toolsOf(req));
  if (req.temperature != null) chat.temperature = req.temperature;
  if (req.top_p != null) chat.top_p = req.top_p;
  if (req.max_output_tokens != null) chat.max_completion_tokens = req.max_output_tokens;
  const format = req.text?.format;
  if (format) {
    chat.response_format =
      format.type === "json_schema"
        ? { type: "json_schema", json_schema: { name: format.name, schema: format.schema, ...(format.description != null ? { description: format.description } : {}), ...(format.strict != null ? { strict: format.strict } : {}) } }
        : { type: format.type };
  }
  if (req.user !== undefined) chat.user = req.user;
  if (stream) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  // Fields the chat schema may or may not know yet: sent only when it does, so the chat
  // request stays one a chat client could have sent (and OpenAI-compatible upstreams get them).
  const known = chatKeys();
  const optional: [string, unknown][] = [
    ["reasoning_effort", req.reasoning?.effort],
    ["verbosity", req.text?.verbosity],
    ["service_tier", req.service_tier],
    ["prompt_cache_key", req.prompt_cache_key],
    ["prompt_cache_retention", req.prompt_cache_retention],
    ["safety_identifier", req.safety_identifier],
  ];
  for (const [key, value] of optional) if (value != null && known.has(key)) chat[key] = value;
  for (const [key, value] of Object.entries(req)) {
    if (knownResponseParams.has(key) || value === undefined) continue;
    const instead = CHAT_ONLY[key];
    if (instead !== undefined) throw new ApiError(400, "unsupported_parameter", `Unsupported parameter: '${key}' is a chat-completions field; ${instead}.`, { param: key });
    chat[key] = value;
  }

  const parsed = chatCompletionRequest.safeParse(chat);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? responsesParam(issue.path) : "";
    // A refinement that names its own code (schema/chat-params.ts) wrote a whole message.
    const code = issue?.code === "custom" ? (issue.params as { code?: unknown } | undefined)?.code : undefined;
    if (typeof code === "string") throw new ApiError(400, code, issue?.message ?? "", { param: where || null });
    throw new ApiError(400, "invalid_value", `Invalid value for '${where || "body"}': ${issue?.message ?? "not a valid request"}`, { param: where || null });
  }
  return parsed.data;
}

// Chat fields a Responses client should not send, and what to send instead.
const CHAT_ONLY: Record<string, string> = {
  messages: "send input (and instructions)",
  max_tokens: "send max_output_tokens",
  max_completion_tokens: "send max_output_tokens",
  response_format: "send text.format",
  functions: "send tools",
  function_call: "send tool_choice",
  reasoning_effort: "send reasoning.effort",
  verbosity: "send text.verbosity",
  n: "a response has one answer: send one request per answer",
  modalities: "/v1/responses answers text",
  audio: "/v1/responses answers text",
  logprobs: "/v1/responses does not return logprobs: use /v1/chat/completions",
};

let keys: Set<string> | undefined;
function chatKeys(): Set<string> {
  keys ??= new Set(Object.keys(chatCompletionRequest.shape));
  return keys;
}

// A chat field's path as the Responses parameter it came from.
function responsesParam(path: readonly PropertyKey[]): string {
  const [head] = path;
  const names: Record<string, string> = {
    messages: "input",
    response_format: "text.format",
    max_completion_tokens: "max_output_tokens",
    reasoning_effort: "reasoning.effort",
    verbosity: "text.verbosity",
  };
  return names[String(head)] ?? String(head ?? "");
}

function toolsOf(req: ResponseCreateRequest): Record<string, unknown> {
  let tools = req.tools ?? [];
  let choice: unknown = req.tool_choice;
  if (typeof choice === "object" && choice !== null && (choice as { type: string }).type === "allowed_tools") {
    const allowed = choice as { mode: "auto" | "required"; tools: { name: string }[] };
    const names = new Set(allowed.tools.map((t) => t.name));
    for (const name of names) {
      if (!tools.some((t) => t.name === name)) {
        throw new ApiError(400, "invalid_value", `tool_choice.tools names '${name}', which is not in tools.`, { param: "tool_choice.tools" });
      }
    }
    tools = tools.filter((t) => names.has(t.name));
    choice = allowed.mode;
  } else if (typeof choice === "object" && choice !== null) {
    const name = (choice as { name: string }).name;
    if (!tools.some((t) => t.name === name)) {
      throw new ApiError(400, "invalid_value", `tool_choice names the function '${name}', which is not in tools.`, { param: "tool_choice" });
    }
    choice = { type: "function", function: { name } };
  }
  if (tools.length === 0) {
    // OpenAI refuses tool_choice and parallel_tool_calls without tools; only a choice that
    // needs a tool is an error here.
    if (choice === "required") {
      throw new ApiError(400, "invalid_value", "tool_choice 'required' needs at least one tool.", { param: "tool_choice" });
    }
    return {};
  }
  return {
    tools: tools.map((t) => ({
      type: "function",
      function: {
        name: t.name,
        ...(t.description != null ? { description: t.description } : {}),
        ...(t.parameters != null ? { parameters: t.parameters } : {}),
        ...(t.strict != null ? { strict: t.strict } : {}),
      },
    })),
    ...(choice !== undefined ? { tool_choice: choice } : {}),
    ...(req.parallel_tool_calls != null ? { parallel_tool_calls: req.parallel_tool_calls } : {}),
  };
}

function toMessages(items: Placed[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  // The assistant message that function_call items right after it join.
  let assistant: (ChatMessage & { tool_calls?: ToolCall[] }) | null = null;
  for (const { item, param } of items) {
    switch (item.type) {
      case "reasoning":
        break;
      case "function_call": {
        const call: ToolCall = { id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } };
        if (assistant) (assistant.tool_calls ??= []).push(call);
        else {
          assistant = { role: "assistant", content: null, tool_calls: [call] };
          out.push(assistant);
        }
        break;
      }
      case "function_call_output":
        assistant = null;
        out.push({ role: "tool", tool_call_id: item.call_id, content: toolOutput(item.output, `${param}.output`) });
        break;
      case "message":
        if (item.role === "assistant") {
          const { text, refusal } = assistantText(item.content);
          assistant = { role: "assistant", content: text, ...(refusal !== null ? { refusal } : {}) };
          out.push(assistant);
        } else {
          assistant = null;
          out.push({ role: item.role, content: item.role === "user" ? userContent(item.content, `${param}.content`) : plainText(item.content, `${param}.content`) });
        }
        break;
    }
  }
  return out;
}

type Parts = string | readonly (ContentPart | OutputItemPart)[];
type OutputItemPart = { type: "output_text"; text: string } | { type: "refusal"; refusal: string };

function assistantText(content: Parts): { text: string; refusal: string | null } {
  if (typeof content === "string") return { text: content, refusal: null };
  let text = "";
  let refusal: string | null = null;
  for (const part of content) {
    if (part.type === "output_text" || part.type === "input_text") text += part.text;
    else if (part.type === "refusal") refusal = (refusal ?? "") + part.refusal;
  }
  return { text, refusal };
}

// System and developer messages, and tool outputs: text only in chat.
function plainText(content: Parts, param: string): string {
  if (typeof content === "string") return content;
  return content
    .map((part, i) => {
      if (part.type === "input_text" || part.type === "output_text") return part.text;
      throw unsupportedPart(part.type, `${param}[${i}]`, "this message takes text only");
    })
    .join("");
}

function toolOutput(output: Parts, param: string): string {
  return plainText(output, param);
}

function userContent(content: Parts, param: string): unknown {
  if (typeof content === "string") return content;
  return content.map((part, i) => {
    const at = `${param}[${i}]`;
    switch (part.type) {
      case "input_text":
      case "output_text":
        return { type: "text", text: part.text };
      case "input_image":
        if (part.image_url == null) throw unsupportedPart("input_image with file_id", at, "send the image as image_url (an https URL or a data: URL)");
        return { type: "image_url", image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } };
      case "input_file":
        if (part.file_url != null) throw unsupportedPart("input_file with file_url", at, "send the file inline as file_data");
        return { type: "file", file: { ...(part.file_data != null ? { file_data: part.file_data } : {}), ...(part.file_id != null ? { file_id: part.file_id } : {}), ...(part.filename != null ? { filename: part.filename } : {}) } };
      default:
        throw unsupportedPart(part.type, at, "user messages take input_text, input_image and input_file");
    }
  });
}

function unsupportedPart(type: string, param: string, hint: string): ApiError {
  return new ApiError(400, "unsupported_value", `Content of type '${type}' is not supported here: ${hint}.`, { param });
}
