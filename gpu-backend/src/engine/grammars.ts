// Grammars compiled once per distinct JSON schema: building one is far slower than sampling a
// token, and clients send the same response_format or tools with every request.
import type { Llama, LlamaGrammar } from "node-llama-cpp";

const cache = new Map<string, Promise<LlamaGrammar>>();
const CACHE_LIMIT = 64;

/** The grammar for `schema` (a JSON schema), or the generic JSON grammar when it is undefined. Rejects when it does not compile. */
export function grammarFor(llama: Llama, schema: object | undefined): Promise<LlamaGrammar> {
  const key = schema ? JSON.stringify(schema) : "json";
  let grammar = cache.get(key);
  if (!grammar) {
    grammar = schema
      ? Promise.resolve().then(() => llama.createGrammarForJsonSchema(schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]))
      : llama.getGrammarFor("json");
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, grammar);
    grammar.catch(() => cache.delete(key));
  }
  return grammar;
}
