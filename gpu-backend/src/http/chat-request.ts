// Translates a validated OpenAI request into engine terms, refusing what this backend cannot honour
// with the offending parameter named.
import type { Llama, LlamaGrammar } from "node-llama-cpp";
import type { ChatMessage, GenerationParams } from "../engine/loaded-model.ts";
import { ApiError } from "./errors.ts";
import type { ChatCompletionRequest } from "./schema.ts";

export function toChatMessages(messages: ChatCompletionRequest["messages"]): ChatMessage[] {
  return messages.map((m, i) => {
    if (m.role === "tool") {
      throw new ApiError(400, "Tool messages are not supported: this backend does not run tools.", "unsupported_value", `messages[${i}].role`);
    }
    const content = m.content ?? "";
    let text: string;
    if (typeof content === "string") {
      text = content;
    } else {
      text = content
        .map((part, j) => {
          if (part.type !== "text" || typeof part.text !== "string") {
            throw new ApiError(400, `Content parts of type '${part.type}' are not supported by this model; only 'text'.`, "unsupported_value", `messages[${i}].content[${j}].type`);
          }
          return part.text;
        })
        .join("");
    }
    // "developer" is OpenAI's newer name for the system role.
    return { role: m.role === "developer" ? "system" : m.role, content: text };
  });
}

/** Grammars are compiled once per distinct schema; building one is far slower than sampling a token. */
const grammarCache = new Map<string, Promise<LlamaGrammar>>();
const GRAMMAR_CACHE_LIMIT = 64;

async function grammarFor(llama: Llama, format: ChatCompletionRequest["response_format"]): Promise<LlamaGrammar | undefined> {
  if (!format || format.type === "text") return undefined;
  const schema = format.type === "json_schema" ? format.json_schema.schema : undefined;
  const key = schema ? JSON.stringify(schema) : "json";
  let grammar = grammarCache.get(key);
  if (!grammar) {
    grammar = schema
      ? Promise.resolve().then(() => llama.createGrammarForJsonSchema(schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]))
      : llama.getGrammarFor("json");
    if (grammarCache.size >= GRAMMAR_CACHE_LIMIT) grammarCache.delete(grammarCache.keys().next().value!);
    grammarCache.set(key, grammar);
    grammar.catch(() => grammarCache.delete(key));
  }
  try {
    return await grammar;
  } catch (e) {
    throw new ApiError(400, `Unsupported JSON schema: ${e instanceof Error ? e.message : String(e)}`, "invalid_value", "response_format.json_schema.schema");
  }
}

export type TranslatedRequest = { messages: ChatMessage[]; params: Omit<GenerationParams, "messages">; maxTokens?: number; stream: boolean; includeUsage: boolean };

export async function translateRequest(body: ChatCompletionRequest, llama: Llama): Promise<TranslatedRequest> {
  if (body.n != null && body.n > 1) throw new ApiError(400, "n > 1 is not supported; send one request per choice.", "unsupported_value", "n");
  if (body.logprobs) throw new ApiError(400, "logprobs are not supported by this backend.", "unsupported_value", "logprobs");
  if (body.tools?.length) throw new ApiError(400, "Tools are not supported by this backend.", "unsupported_value", "tools");
  const messages = toChatMessages(body.messages);
  const grammar = await grammarFor(llama, body.response_format);
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    messages,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    params: {
      temperature: body.temperature ?? 1, // OpenAI's default
      topP: body.top_p ?? undefined,
      seed: body.seed ?? undefined,
      stop: stop.filter((s) => s.length > 0),
      grammar,
      frequencyPenalty: body.frequency_penalty ?? undefined,
      presencePenalty: body.presence_penalty ?? undefined,
    },
  };
}
