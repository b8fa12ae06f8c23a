// Generated text, token by token, byte-exact and incremental.
//
// A token is a run of bytes, not of characters: a multi-byte UTF-8 character can be spread over
// two or more tokens (SentencePiece byte-fallback tokens such as <0xE2>, byte-level BPE pieces).
// llama.cpp hands node-llama-cpp each token's text as a JS string, so a token holding part of a
// character comes back as U+FFFD: its real bytes must come from the vocabulary. The text grows by
// whole characters only: bytes of an unfinished character wait for the token that completes it,
// which then carries the whole character (vLLM's incremental detokenization; the earlier tokens'
// pieces are "" and their `bytes` hold the exact bytes, as OpenAI's do). Every step costs the
// same whatever the answer's length (re-detokenizing the whole answer per token was quadratic).
import type { LlamaModel, Token } from "node-llama-cpp";

const REPLACEMENT = "\uFFFD";
/** Tokens of context handed to the detokenizer, so it knows whether a leading space is kept. */
export const DETOKENIZE_CONTEXT = 8;

const encoder = new TextEncoder();
// ignoreBOM: a U+FEFF the model generates is text like any other, not a byte-order mark to drop.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** GPT-2's byte-level alphabet (tokenizer.ggml.model "gpt2"): the character each byte is written as. */
function byteLevelAlphabet(): Map<string, number> {
  const map = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map.set(String.fromCodePoint(printable ? b : next++), b);
  }
  return map;
}

type Vocabulary = { kind: string; tokens: readonly string[]; types: readonly number[] };

const BYTE_TOKEN = 6; // llama.cpp's LLAMA_TOKEN_TYPE_BYTE
const HEX = "0123456789abcdef";

/** "<0xE2>" -> 0xe2, or undefined. Parsed by hand: a fixed 6-character shape. */
function byteTokenValue(s: string): number | undefined {
  if (s.length !== 6 || !s.startsWith("<0x") || !s.endsWith(">")) return undefined;
  const hi = HEX.indexOf(s[3]!.toLowerCase());
  const lo = HEX.indexOf(s[4]!.toLowerCase());
  return hi < 0 || lo < 0 ? undefined : hi * 16 + lo;
}

/** Each token's exact bytes, for one model. */
export class TokenBytes {
  private readonly model: LlamaModel;
  private vocabulary?: Vocabulary | null;
  private alphabet?: Map<string, number>;
  private readonly cache = new Map<Token, Uint8Array | null>();

  constructor(model: LlamaModel) {
    this.model = model;
  }

  /** The bytes `token` adds to the text after `context` (the tokens just before it). */
  of(token: Token, context: readonly Token[]): Uint8Array {
    const text = this.model.detokenize([token], false, context);
    if (text !== "" && !text.includes(REPLACEMENT)) return encoder.encode(text);
    // Part of a character: U+FFFD, or "" when the context ends with the same unfinished character
    // (node-llama-cpp then strips the context's text, U+FFFD included, from a U+FFFD). The
    // vocabulary knows its bytes; a token it has none for (a control token) adds what it says.
    return this.fromVocabulary(token) ?? encoder.encode(text);
  }

  private fromVocabulary(token: Token): Uint8Array | null {
    let bytes = this.cache.get(token);
    if (bytes !== undefined) return bytes;
    const vocab = this.readVocabulary();
    const s = vocab?.tokens[token];
    bytes = null;
    if (vocab && s !== undefined) {
      if (vocab.kind === "llama") {
        // SentencePiece: byte-fallback tokens are spelled <0xNN>.
        const b = vocab.types[token] === BYTE_TOKEN ? byteTokenValue(s) : undefined;
        if (b !== undefined) bytes = Uint8Array.of(b);
      } else if (vocab.kind === "gpt2") {
        this.alphabet ??= byteLevelAlphabet();
        const out: number[] = [];
        for (const ch of s) {
          const b = this.alphabet.get(ch);
          if (b === undefined) { out.length = 0; break; }
          out.push(b);
        }
        if (out.length) bytes = Uint8Array.from(out);
      }
    }
    this.cache.set(token, bytes);
    return bytes;
  }

  private readVocabulary(): Vocabulary | null {
    if (this.vocabulary !== undefined) return this.vocabulary;
    const ggml = (this.model.fileInfo.metadata as { tokenizer?: { ggml?: { model?: unknown; tokens?: unknown; token_type?: unknown } } }).tokenizer?.ggml;
    this.vocabulary = ggml && typeof ggml.model === "string" && Array.isArray(ggml.tokens)
      ? { kind: ggml.model, tokens: ggml.tokens as string[], types: Array.isArray(ggml.token_type) ? (ggml.token_type as number[]) : [] }
      : null;
    return this.vocabulary;
  }
}

/** Where the unfinished character at the end of `bytes` starts (bytes.length when there is none). */
export function completeLength(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 1;
    return n - i < need ? i : n;
  }
  return n; // only continuation bytes: invalid, decoded (as U+FFFD) now
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** The answer's text, grown by whole characters as token bytes arrive. */
export class Utf8Text {
  /** Bytes of a character still missing its continuation bytes (at most 3). */
  private pending: Uint8Array = new Uint8Array(0);

  /** Appends `bytes`; returns the text they complete ("" while a character is unfinished). */
  push(bytes: Uint8Array): string {
    const all = concat(this.pending, bytes);
    const cut = completeLength(all);
    this.pending = all.slice(cut);
    return decoder.decode(all.subarray(0, cut));
  }

  /** What `bytes` would complete if they came next, without taking them (for top alternatives). */
  peek(bytes: Uint8Array): string {
    const all = concat(this.pending, bytes);
    return decoder.decode(all.subarray(0, completeLength(all)));
  }

  /** Ends the text: an unfinished character decodes as U+FFFD, as any UTF-8 decoder ends. */
  end(): string {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return rest.length ? decoder.decode(rest) : "";
  }
}

/** The last `n` tokens of prompt + generated, without copying either whole. */
export function recentTokens(prompt: readonly Token[], generated: readonly Token[], n = DETOKENIZE_CONTEXT): Token[] {
  if (generated.length >= n) return generated.slice(generated.length - n);
  return [...prompt.slice(Math.max(0, prompt.length - (n - generated.length))), ...generated];
}
