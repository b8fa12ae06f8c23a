// Grammars compiled once per distinct JSON schema: building one is far slower than sampling a
// token, and clients send the same response_format or tools with every request.
//
// The cache is an LRU keyed by the schema's SHA-256, bounded by entries and by size. One chat
// request with tools compiles each tool's parameters schema plus the forced-call schema: up to
// 129 grammars. The old bound (64, evicting in insertion order) was smaller than one such
// request, so every identical request compiled all of them again; and it kept each schema's whole
// JSON text as the key (up to the 4 MiB body limit each).
import { createHash } from "node:crypto";
import type { Llama, LlamaGrammar } from "node-llama-cpp";

export type GrammarCacheLimits = {
  /** Grammars kept: above the 129 one request with the most tools needs, with room for many clients. */
  maxEntries: number;
  /** Schema JSON plus grammar text kept, in characters. */
  maxChars: number;
};

export const DEFAULT_GRAMMAR_CACHE_LIMITS: GrammarCacheLimits = { maxEntries: 1024, maxChars: 64 * 1024 * 1024 };

type Entry = { grammar: Promise<LlamaGrammar>; chars: number };

export class GrammarCache {
  private readonly limits: GrammarCacheLimits;
  /** Map order is recency: a hit moves its entry to the end, eviction takes from the front. */
  private readonly entries = new Map<string, Entry>();
  private chars = 0;

  constructor(limits: GrammarCacheLimits = DEFAULT_GRAMMAR_CACHE_LIMITS) {
    this.limits = limits;
  }

  get size(): number { return this.entries.size; }
  get totalChars(): number { return this.chars; }

  /** The grammar for `schema` (a JSON schema), or the generic JSON grammar when it is undefined. Rejects when it does not compile. */
  get(llama: Llama, schema: object | undefined): Promise<LlamaGrammar> {
    const json = schema ? JSON.stringify(schema) : "";
    const key = schema ? createHash("sha256").update(json).digest("hex") : "json";
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.grammar;
    }
    const grammar = schema
      ? Promise.resolve().then(() => llama.createGrammarForJsonSchema(schema as Parameters<Llama["createGrammarForJsonSchema"]>[0]))
      : llama.getGrammarFor("json");
    const entry: Entry = { grammar, chars: json.length };
    this.entries.set(key, entry);
    this.chars += entry.chars;
    this.trim();
    grammar.then(
      (g) => {
        // Now the grammar's own text is known: count it too.
        if (this.entries.get(key) !== entry) return;
        entry.chars += g.grammar.length;
        this.chars += g.grammar.length;
        this.trim();
      },
      () => this.remove(key, entry),
    );
    return grammar;
  }

  /** Drops least recently used entries until both bounds hold (an entry larger than the whole bound is not kept at all). */
  private trim() {
    while (this.entries.size > this.limits.maxEntries || (this.chars > this.limits.maxChars && this.entries.size > 0)) {
      const [key, entry] = this.entries.entries().next().value!;
      this.remove(key, entry);
    }
  }

  private remove(key: string, entry: Entry) {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.chars -= entry.chars;
  }
}

const shared = new GrammarCache();

/** The grammar for `schema` (a JSON schema), or the generic JSON grammar when it is undefined. Rejects when it does not compile. */
export function grammarFor(llama: Llama, schema: object | undefined): Promise<LlamaGrammar> {
  return shared.get(llama, schema);
}
