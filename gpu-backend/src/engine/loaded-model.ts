// One model in memory: its weights, one context with a sequence per slot, the chat template
// (resolved once here, not per request: rendering through the generic Jinja path costs hundreds
// of milliseconds before the first token), and the queue in front of its slots.
import {
  LlamaChat,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatWrapper,
  type LlamaChatResponseFunctionCallParamsChunk,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
  type LlamaText,
  type Token,
} from "node-llama-cpp";
import { randomBytes } from "node:crypto";
import { validateModelFile } from "../gguf/validate.ts";
import { Embedder } from "./embeddings.ts";
import { SlotPool } from "./slot-pool.ts";
import { runTokenLoop, type LoopParams, type TokenLogprob } from "./token-loop.ts";

export type ModelSpec = {
  id: string;
  /** A local .gguf file (already resolved from any hf: URI). */
  path: string;
  contextSize?: number;
  slots?: number;
  gpuLayers?: number | "auto" | "max";
};

export type ModelDefaults = { contextSize: number; slots: number; queueLimit: number; threads: number };

/** A tool call of an earlier assistant turn, with the result its tool message gave. */
export type PastToolCall = { name: string; params: unknown; result: string };
export type ChatMessage = { role: "system" | "user"; content: string } | { role: "assistant"; content: string; toolCalls?: PastToolCall[] };

/**
 * Tools offered to the model. "native": LlamaChat's own function calling (the chat wrapper's
 * syntax, its grammar once the model starts a call). "inline": the functions are only described
 * in the system prompt, and a grammar passed in GenerationParams shapes the answer.
 */
export type ToolsPrompt = { functions: ChatModelFunctions; mode: "native" | "inline" };

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
  /** LlamaChat function calling (tool_choice "auto"); exclusive with `grammar`. */
  functions?: ChatModelFunctions;
  maxParallelFunctionCalls?: number;
};

export type FinishReason = "stop" | "length" | "tool_calls";

export type FunctionCallOut = { name: string; params: unknown };

export type GenerationResult = {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** performance.now() of the first generated token, if any. */
  firstTokenAt?: number;
  functionCalls?: FunctionCallOut[];
  logprobs?: TokenLogprob[];
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
export type PreparedPrompt = {
  history: ChatHistoryItem[];
  tokens: readonly Token[];
  promptTokens: number;
  maxTokens: number;
  /** The chat wrapper's end-of-turn triggers, for generation outside LlamaChat (logprobs). */
  stopTriggers: readonly LlamaText[];
};

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
  private embedderInstance?: Embedder;
  private readonly threads: number;
  private readonly queueLimit: number;

  private constructor(spec: ModelSpec, model: LlamaModel, context: LlamaContext, chatWrapper: ChatWrapper, sequences: LlamaContextSequence[], queueLimit: number, threads: number) {
    this.threads = threads;
    this.queueLimit = queueLimit;
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
      return new LoadedModel(spec, model, context, resolveChatWrapper(model), sequences, defaults.queueLimit, defaults.threads);
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

  /** Token ids are 0 .. vocabularySize - 1 (read from the GGUF header once). */
  get vocabularySize(): number {
    const tokens = (this.model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly unknown[] } } }).tokenizer?.ggml?.tokens;
    return tokens?.length ?? 0;
  }

  /** Embedding requests on the embedding context and queued for it (0 before the first one). */
  get embeddingLoad(): { running: number; waiting: number } {
    const pool = this.embedderInstance?.pool;
    return { running: pool?.running ?? 0, waiting: pool?.waiting ?? 0 };
  }

  /** The model's embedding context, created on first use (see engine/embeddings.ts). */
  get embedder(): Embedder {
    if (this.disposed) throw new Error(`model ${this.id} was unloaded`);
    this.embedderInstance ??= new Embedder(this.model, { contextSize: this.contextSize, threads: this.threads, queueLimit: this.queueLimit });
    return this.embedderInstance;
  }

  /** A raw prompt as tokens: special-token text (<|im_start|>) is parsed, as llama.cpp's and vLLM's servers do, and BOS is added when the model wants one. */
  tokenizeText(text: string, addSpecial = true): Token[] {
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    return addSpecial && bos !== null && this.model.tokens.shouldPrependBosToken ? [bos, ...tokens] : tokens;
  }

  detokenize(tokens: readonly Token[]): string {
    return this.model.detokenize(tokens, true);
  }

  /** Refuses a prompt that leaves no room to answer; caps max_tokens at the room left. */
  fit(promptTokens: number, maxTokens?: number): number {
    const room = this.contextSize - promptTokens;
    if (room < 1) throw new ContextLengthError(promptTokens, this.contextSize);
    return Math.min(maxTokens ?? room, room);
  }

  /** Renders and counts the prompt; refuses it when it leaves no room to answer. */
  prepare(messages: ChatMessage[], maxTokens?: number, tools?: ToolsPrompt): PreparedPrompt {
    const rendered = this.render(messages, tools);
    return { ...rendered, promptTokens: rendered.tokens.length, maxTokens: this.fit(rendered.tokens.length, maxTokens) };
  }

  /** The chat as the model sees it (template applied, generation prompt included), as tokens. */
  render(messages: ChatMessage[], tools?: ToolsPrompt): Pick<PreparedPrompt, "history" | "tokens" | "stopTriggers"> {
    let history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
      if (m.role !== "assistant") return { type: m.role, text: m.content };
      const calls = (m.toolCalls ?? []).map((c) => ({ type: "functionCall" as const, name: c.name, params: c.params, result: c.result }));
      return { type: "model", response: [...(m.content ? [m.content] : []), ...calls] };
    });
    // Inline tools are described in the system prompt of the history itself, so LlamaChat (which
    // gets a grammar, not functions) renders exactly what was counted here.
    if (tools?.mode === "inline") history = [...this.chatWrapper.addAvailableFunctionsSystemMessageToHistory(history, tools.functions, { documentParams: true })];
    history.push({ type: "model", response: [] });
    const { contextText, stopGenerationTriggers } = this.chatWrapper.generateContextState({
      chatHistory: history,
      availableFunctions: tools?.mode === "native" ? tools.functions : undefined,
      documentFunctionParams: tools?.mode === "native" ? true : undefined,
    });
    const tokens = contextText.tokenize(this.model.tokenizer);
    return { history, tokens, stopTriggers: stopGenerationTriggers };
  }

  /** Generates from raw tokens (no chat template, or a rendered chat for logprobs) on a slot the caller holds. */
  async generateTokens(slot: LlamaContextSequence, tokens: readonly Token[], params: LoopParams, hooks: Parameters<typeof runTokenLoop>[4] = {}): Promise<GenerationResult> {
    const r = await runTokenLoop(this.model, slot, tokens, params, hooks);
    return { text: r.text, finishReason: r.finishReason, promptTokens: tokens.length, completionTokens: r.completionTokens, firstTokenAt: r.firstTokenAt, logprobs: r.logprobs };
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
  acquire(prompt: { tokens: readonly Token[] }, signal?: AbortSignal): Promise<LlamaContextSequence> {
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
    hooks: { signal?: AbortSignal; onText?: (text: string) => void; onCallChunk?: (chunk: LlamaChatResponseFunctionCallParamsChunk) => void } = {},
  ): Promise<GenerationResult> {
    // LlamaChat reuses whatever prefix of this prompt the slot's KV cache already holds.
    const chat = new LlamaChat({ contextSequence: slot, chatWrapper: this.chatWrapper, autoDisposeSequence: false });
    // The slot's meter counts every sampled token, including ones the chat wrapper holds back or
    // swallows (an end-of-turn marker), which is what OpenAI-compatible servers bill as completion.
    const outputBefore = slot.tokenMeter.usedOutputTokens;
    let firstTokenAt: number | undefined;
    try {
      const penalties = params.frequencyPenalty || params.presencePenalty;
      // LlamaChat takes either a grammar or functions, never both (the types enforce it).
      const shape = params.functions
        ? { functions: params.functions, documentFunctionParams: true, maxParallelFunctionCalls: params.maxParallelFunctionCalls, onFunctionCallParamsChunk: hooks.onCallChunk }
        : { grammar: params.grammar };
      const result = await chat.generateResponse(prompt.history, {
        ...shape,
        maxTokens: prompt.maxTokens,
        temperature: params.temperature,
        topP: params.topP,
        seed: params.seed,
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
      const functionCalls = (result.functionCalls ?? []).map((c) => ({ name: c.functionName, params: c.params }));
      return {
        text: result.response,
        finishReason: functionCalls.length ? "tool_calls" : stopReason === "maxTokens" ? "length" : "stop",
        functionCalls: functionCalls.length ? functionCalls : undefined,
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
    await this.embedderInstance?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}
