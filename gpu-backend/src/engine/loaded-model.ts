// One model in memory: its weights, one context with a sequence per slot, the chat template
// (resolved once here, not per request: rendering through the generic Jinja path costs hundreds
// of milliseconds before the first token), and the queue in front of its slots.
import {
  LlamaChat,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { randomBytes } from "node:crypto";
import { validateModelFile } from "../gguf/validate.ts";
import { SlotPool } from "./slot-pool.ts";

export type ModelSpec = {
  id: string;
  /** A local .gguf file (already resolved from any hf: URI). */
  path: string;
  contextSize?: number;
  slots?: number;
  gpuLayers?: number | "auto" | "max";
};

export type ModelDefaults = { contextSize: number; slots: number; queueLimit: number; threads: number };

export type ChatMessage = { role: "system" | "user" | "assistant"; content: string };

export type GenerationParams = {
  messages: ChatMessage[];
  maxTokens?: number;
  temperature: number;
  topP?: number;
  seed?: number;
  stop: string[];
  grammar?: LlamaGrammar;
  frequencyPenalty?: number;
  presencePenalty?: number;
};

export type FinishReason = "stop" | "length";

export type GenerationResult = {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** performance.now() of the first generated token, if any. */
  firstTokenAt?: number;
};

export class ContextLengthError extends Error {
  readonly promptTokens: number;
  readonly contextSize: number;
  constructor(promptTokens: number, contextSize: number) {
    super(`This model's maximum context length is ${contextSize} tokens, but the messages take ${promptTokens} tokens. Shorten the messages or use a model with a larger context.`);
    this.promptTokens = promptTokens;
    this.contextSize = contextSize;
  }
}

/** A prepared request: the prompt is rendered and counted before it waits for a slot. */
export type PreparedPrompt = { history: ChatHistoryItem[]; tokens: readonly Token[]; promptTokens: number; maxTokens: number };

function commonPrefix(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class LoadedModel {
  readonly spec: ModelSpec;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly chatWrapper: ChatWrapper;
  readonly pool: SlotPool<LlamaContextSequence>;
  readonly loadedAt = Date.now();
  /**
   * OpenAI's system_fingerprint: new for every load, so a client (and the hot-swap test) can tell
   * which load of a model id answered, even when a replacement landed while the request was in flight.
   */
  readonly fingerprint = `fp_${randomBytes(6).toString("hex")}`;
  private retired = false;
  private disposed = false;

  private constructor(spec: ModelSpec, model: LlamaModel, context: LlamaContext, chatWrapper: ChatWrapper, sequences: LlamaContextSequence[], queueLimit: number) {
    this.spec = spec;
    this.model = model;
    this.context = context;
    this.chatWrapper = chatWrapper;
    this.pool = new SlotPool(sequences, queueLimit);
  }

  static async load(llama: Llama, spec: ModelSpec, defaults: ModelDefaults): Promise<LoadedModel> {
    await validateModelFile(spec.path);
    const model = await llama.loadModel({ modelPath: spec.path, gpuLayers: spec.gpuLayers ?? "auto" });
    try {
      const slots = spec.slots ?? defaults.slots;
      // A context larger than the model was trained for would produce garbage past that point.
      const contextSize = Math.min(spec.contextSize ?? defaults.contextSize, model.trainContextSize);
      const context = await model.createContext({ sequences: slots, contextSize, threads: defaults.threads });
      const sequences = Array.from({ length: slots }, () => context.getSequence());
      return new LoadedModel(spec, model, context, resolveChatWrapper(model), sequences, defaults.queueLimit);
    } catch (e) {
      await model.dispose();
      throw e;
    }
  }

  get id() { return this.spec.id; }
  /** Tokens one request may use (prompt + completion); each slot has its own window. */
  get contextSize() { return this.context.contextSize; }

  /** Used KV cells of the running requests, over all cells (what vLLM reports as kv_cache_usage_perc). */
  get kvUsage(): number {
    const used = this.pool.busySlots.reduce((sum, s) => sum + s.nextTokenIndex, 0);
    return used / (this.contextSize * this.pool.size);
  }

  /** Renders and counts the prompt; refuses it when it leaves no room to answer. */
  prepare(messages: ChatMessage[], maxTokens?: number): PreparedPrompt {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === "assistant" ? { type: "model", response: [m.content] } : { type: m.role, text: m.content },
    );
    history.push({ type: "model", response: [] });
    const { contextText } = this.chatWrapper.generateContextState({ chatHistory: history });
    const tokens = contextText.tokenize(this.model.tokenizer);
    const promptTokens = tokens.length;
    const room = this.contextSize - promptTokens;
    if (room < 1) throw new ContextLengthError(promptTokens, this.contextSize);
    return { history, tokens, promptTokens, maxTokens: Math.min(maxTokens ?? room, room) };
  }

  /**
   * Waits (FIFO) for a free slot; QueueFullError past the queue limit.
   *
   * Which free slot: LlamaChat reuses the KV cells of the longest common prefix and erases the rest,
   * and node-llama-cpp erases under the context lock that its batch loop holds for as long as any
   * sequence keeps generating. So while others generate, a slot that needs no erasing (empty, or
   * holding only a prefix of this prompt: the previous turn of the same conversation) wins, since
   * erasing would hold the first token back until every other generation pauses (seen: seconds).
   * When nothing runs, erasing is instant and the longest reusable prefix wins.
   */
  acquire(prompt: PreparedPrompt, signal?: AbortSignal): Promise<LlamaContextSequence> {
    if (this.disposed) return Promise.reject(new Error(`model ${this.id} was unloaded`));
    const busy = this.pool.running > 0;
    return this.pool.acquire(signal, (slot) => {
      const cached = slot.contextTokens;
      const shared = commonPrefix(cached, prompt.tokens);
      const eraseFree = shared === cached.length;
      return busy ? (eraseFree ? 1 : 0) * 1e9 + shared : shared;
    });
  }

  release(slot: LlamaContextSequence) {
    this.pool.release(slot);
    // A slot freed while others generate is cleared in the background: the clear waits for a
    // pause in generation (when it costs nothing) and leaves an erase-free slot for the next
    // request. A slot freed on an idle server keeps its cells for prefix reuse.
    if (this.pool.isFree(slot) && this.pool.running > 0 && !this.disposed) void slot.clearHistory().catch(() => undefined);
  }

  /** Generates on a slot the caller holds. Rejects with the signal's reason when the client goes away. */
  async generate(
    slot: LlamaContextSequence,
    prompt: PreparedPrompt,
    params: GenerationParams,
    hooks: { signal?: AbortSignal; onText?: (text: string) => void } = {},
  ): Promise<GenerationResult> {
    // LlamaChat reuses whatever prefix of this prompt the slot's KV cache already holds.
    const chat = new LlamaChat({ contextSequence: slot, chatWrapper: this.chatWrapper, autoDisposeSequence: false });
    // The slot's meter counts every sampled token, including ones the chat wrapper holds back or
    // swallows (an end-of-turn marker), which is what OpenAI-compatible servers bill as completion.
    const outputBefore = slot.tokenMeter.usedOutputTokens;
    let firstTokenAt: number | undefined;
    try {
      const penalties = params.frequencyPenalty || params.presencePenalty;
      const result = await chat.generateResponse(prompt.history, {
        maxTokens: prompt.maxTokens,
        temperature: params.temperature,
        topP: params.topP,
        seed: params.seed,
        grammar: params.grammar,
        customStopTriggers: params.stop.length ? params.stop : undefined,
        repeatPenalty: penalties ? { frequencyPenalty: params.frequencyPenalty, presencePenalty: params.presencePenalty } : false,
        signal: hooks.signal,
        stopOnAbortSignal: false,
        onToken: () => {
          firstTokenAt ??= performance.now();
        },
        onTextChunk: hooks.onText,
      });
      const stopReason = result.metadata.stopReason;
      return {
        text: result.response,
        finishReason: stopReason === "maxTokens" ? "length" : "stop",
        promptTokens: prompt.promptTokens,
        completionTokens: slot.tokenMeter.usedOutputTokens - outputBefore,
        firstTokenAt,
      };
    } finally {
      chat.dispose({ disposeSequence: false });
    }
  }

  /** Frees memory once requests already admitted (running or queued) have finished. */
  async retire(): Promise<void> {
    if (this.retired) return;
    this.retired = true;
    await this.pool.whenIdle();
    this.disposed = true;
    await this.context.dispose();
    await this.model.dispose();
  }
}
