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

export type EmbeddingResult = { vectors: Float32Array[]; promptTokens: number };

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

  /** Token counts per input (what the model evaluates, BOS included); InputTooLongError past the context. */
  async measure(inputs: readonly (string | readonly Token[])[]): Promise<number[]> {
    const ctx = await this.ctx();
    return inputs.map((input, i) => {
      const n = ctx.calculateInputLength(typeof input === "string" ? input : [...input]);
      // getEmbeddingFor needs the input strictly shorter than the context.
      if (n >= this.contextSize) throw new InputTooLongError(i, n, this.contextSize - 1);
      return n;
    });
  }

  /** Embeds each input in order, waiting its turn; stops between inputs when `signal` aborts. */
  async embed(inputs: readonly (string | readonly Token[])[], dims: number, signal?: AbortSignal): Promise<EmbeddingResult> {
    const counts = await this.measure(inputs);
    await this.pool.acquire(signal);
    try {
      const ctx = await this.ctx();
      const vectors: Float32Array[] = [];
      for (const input of inputs) {
        signal?.throwIfAborted();
        const e = await ctx.getEmbeddingFor(typeof input === "string" ? input : [...input]);
        vectors.push(normalize(e.vector, dims));
      }
      return { vectors, promptTokens: counts.reduce((a, b) => a + b, 0) };
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
