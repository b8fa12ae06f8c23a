// Embeddings from a loaded model: one embedding context per model, created on the first request
// (a second context costs memory, so a server that never embeds never pays for it), behind its own
// bounded FIFO queue so a flood of embedding requests cannot pile up without limit nor take the
// generation slots. Vectors are L2-normalized, as OpenAI's and vLLM's are.
import type { LlamaEmbeddingContext, LlamaModel, Token } from "node-llama-cpp";
import { SlotPool } from "./slot-pool.ts";

export class InputTooLongError extends Error {
  readonly index: number;
  constructor(index: number, tokens: number, limit: number) {
    super(`Input ${index} is ${tokens} tokens long; this model embeds at most ${limit} tokens per input.`);
    this.index = index;
  }
}

/** `startedAt`: performance.now() when the request got the embedding context (its queue wait ended). */
export type EmbeddingResult = { vectors: Float32Array[]; promptTokens: number; startedAt: number };
export type PreparedInputs = { tokens: Token[][]; counts: number[]; total: number };

/** Scales `v` to unit length (a zero vector stays zero). */
export function normalize(v: ArrayLike<number>, dims = v.length): Float32Array {
  const out = Float32Array.from({ length: dims }, (_, i) => v[i]!);
  const norm = Math.hypot(...out);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= norm;
  return out;
}

export class Embedder {
  private readonly model: LlamaModel;
  private readonly contextSize: number;
  private readonly threads: number;
  private context?: Promise<LlamaEmbeddingContext>;
  /** One context with one sequence: requests take turns, in order, up to the queue limit. */
  readonly pool: SlotPool<"embedder">;
  private disposed = false;

  constructor(model: LlamaModel, opts: { contextSize: number; threads: number; queueLimit: number }) {
    this.model = model;
    this.contextSize = opts.contextSize;
    this.threads = opts.threads;
    this.pool = new SlotPool(["embedder"], opts.queueLimit);
  }

  get dimensions(): number { return this.model.embeddingVectorSize; }

  private ctx(): Promise<LlamaEmbeddingContext> {
    if (this.disposed) return Promise.reject(new Error("model unloaded"));
    this.context ??= this.model.createEmbeddingContext({ contextSize: this.contextSize, threads: this.threads });
    this.context.catch(() => { this.context = undefined; });
    return this.context;
  }

  /**
   * Tokenizes each input once (what the model evaluates: BOS included) and counts it;
   * InputTooLongError past the context. The tokens are what embed() evaluates, never the text again.
   */
  async prepare(inputs: readonly (string | readonly Token[])[]): Promise<PreparedInputs> {
    const ctx = await this.ctx();
    const tokens: Token[][] = [];
    const counts = inputs.map((input, i) => {
      const t = typeof input === "string" ? this.model.tokenize(input, false) : [...input];
      // Counted as getEmbeddingFor will evaluate them (it adds BOS/EOS as the model wants), without tokenizing again.
      const n = ctx.calculateInputLength(t);
      // getEmbeddingFor needs the input strictly shorter than the context.
      if (n >= this.contextSize) throw new InputTooLongError(i, n, this.contextSize - 1);
      tokens.push(t);
      return n;
    });
    return { tokens, counts, total: counts.reduce((a, b) => a + b, 0) };
  }

  /** Embeds each prepared input in order, waiting its turn; stops between inputs when `signal` aborts. */
  async embed(prepared: PreparedInputs, dims: number, signal?: AbortSignal): Promise<EmbeddingResult> {
    await this.pool.acquire(signal);
    const startedAt = performance.now();
    try {
      const ctx = await this.ctx();
      const vectors: Float32Array[] = [];
      for (const tokens of prepared.tokens) {
        signal?.throwIfAborted();
        const e = await ctx.getEmbeddingFor(tokens);
        vectors.push(normalize(e.vector, dims));
      }
      return { vectors, promptTokens: prepared.total, startedAt };
    } finally {
      this.pool.release("embedder");
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.pool.whenIdle();
    const ctx = await this.context?.catch(() => undefined);
    await ctx?.dispose();
  }
}
