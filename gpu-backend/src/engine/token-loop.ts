// Token-by-token generation on a slot, for the two paths LlamaChat cannot serve: raw prompts
// (/v1/completions, no chat template) and chat answers with logprobs (LlamaChat reports no token
// probabilities; LlamaContextSequence.evaluateWithMetadata does).
//
// The probabilities are those of the distribution each token was drawn from, after the sampler
// chain (penalties, top_p, temperature): vLLM calls these "processed" logprobs. At temperature 0
// (greedy) the chain leaves the logits alone, so they are the model's own log-probabilities.
import type { LlamaContextSequence, LlamaModel, LlamaText, Token } from "node-llama-cpp";
import type { FinishReason } from "./loaded-model.ts";
import { recentTokens, TokenBytes, Utf8Text } from "./token-text.ts";

/**
 * `bytes` are the token's exact UTF-8 bytes; `token` is the text it adds to the answer: a token
 * holding only part of a character adds "" and the one that completes it adds the whole
 * character (see token-text.ts), so the tokens join to the answer and their bytes concatenate to
 * its UTF-8 bytes.
 */
export type TopLogprob = { token: string; logprob: number; bytes: number[] };
export type TokenLogprob = TopLogprob & { top_logprobs: TopLogprob[]; /** offset of the token's text in the answer */ offset: number };

export type LoopParams = {
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  /** Strings that end the answer; the answer is cut before the first one. */
  stop: string[];
  /** The chat wrapper's end-of-turn triggers, when the prompt is a rendered chat. */
  stopTriggers?: readonly LlamaText[];
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Collect logprobs, with this many alternatives per token (0: the chosen token's only). */
  logprobs?: number;
};

export type LoopHooks = {
  signal?: AbortSignal;
  /** Text that can no longer be taken back by a stop string, and the logprobs of the tokens sampled since the last call. */
  onText?: (text: string, logprobs: TokenLogprob[]) => void;
};

export type LoopResult = { text: string; finishReason: FinishReason; completionTokens: number; firstTokenAt?: number; logprobs?: TokenLogprob[] };

/** OpenAI writes -9999 for a token the sampler ruled out (log 0). */
const logOf = (p: number) => (p > 0 ? Math.log(p) : -9999);

/** One per model: it caches the bytes of vocabulary pieces. */
const tokenBytes = new WeakMap<LlamaModel, TokenBytes>();

/** Longest suffix of `text` that starts one of `stops`: held back, since the next token may complete it. */
function pendingStopLength(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(s.slice(0, n))) { longest = n; break; }
    }
  }
  return longest;
}

/** Splits the chat wrapper's stop triggers into plain strings and token sequences (those holding special tokens). */
function resolveTriggers(model: LlamaModel, triggers: readonly LlamaText[] = []): { strings: string[]; tokens: Token[][] } {
  const strings: string[] = [];
  const tokens: Token[][] = [];
  for (const t of triggers) {
    if (t.values.every((v) => typeof v === "string")) {
      const s = t.values.join("");
      if (s) strings.push(s);
    } else {
      const seq = t.tokenize(model.tokenizer);
      if (seq.length) tokens.push(seq);
    }
  }
  return { strings, tokens };
}

const endsWithSeq = (a: readonly Token[], b: readonly Token[]) => b.length <= a.length && b.every((t, i) => a[a.length - b.length + i] === t);

export async function runTokenLoop(model: LlamaModel, slot: LlamaContextSequence, prompt: readonly Token[], params: LoopParams, hooks: LoopHooks = {}): Promise<LoopResult> {
  if (prompt.length === 0) throw new Error("empty prompt");
  // Reuse the longest prefix of this prompt the slot already holds; keep at least one token to
  // evaluate, since the next token's distribution comes from evaluating the last prompt token.
  const keep = Math.min(slot.compareContextTokens([...prompt]).firstDifferentIndex, prompt.length - 1);
  if (keep < slot.nextTokenIndex) await slot.eraseContextTokenRanges([{ start: keep, end: slot.nextTokenIndex }]);

  const triggers = resolveTriggers(model, params.stopTriggers);
  const stops = [...params.stop.filter((s) => s.length > 0), ...triggers.strings];
  const wantTop = params.logprobs !== undefined && params.logprobs > 0;
  const outputBefore = slot.tokenMeter.usedOutputTokens;
  let bytesOf = tokenBytes.get(model);
  if (!bytesOf) tokenBytes.set(model, (bytesOf = new TokenBytes(model)));
  const utf8 = new Utf8Text();
  const generated: Token[] = [];
  const infos: TokenLogprob[] = [];
  let emitted = 0; // characters of the answer handed to onText
  let pendingInfos = 0; // index of the first info not yet handed to onText
  let finishReason: FinishReason = "stop";
  let text = "";
  let firstTokenAt: number | undefined;
  /** Hands on the text up to `upTo`, with the logprobs of the tokens whose text lies within it (all of them when `all`). */
  const flush = (upTo: number, all = false) => {
    upTo = Math.max(emitted, upTo);
    let n = pendingInfos;
    // A token that adds "" (part of a character) goes out with the token completing that character.
    while (n < infos.length && (all || (infos[n]!.offset + infos[n]!.token.length <= upTo && (infos[n]!.token !== "" || infos[n]!.offset < upTo)))) n++;
    const chunk = text.slice(emitted, upTo);
    const batch = infos.slice(pendingInfos, n);
    emitted = upTo;
    pendingInfos = n;
    if (chunk || batch.length) hooks.onText?.(chunk, batch);
  };

  const iterator = slot.evaluateWithMetadata([...prompt.slice(keep)], { confidence: true, probabilities: wantTop }, {
    temperature: params.temperature,
    topP: params.topP,
    seed: params.seed,
    repeatPenalty: params.frequencyPenalty || params.presencePenalty
      ? { punishTokens: () => generated.slice(-64), penalty: 1, frequencyPenalty: params.frequencyPenalty, presencePenalty: params.presencePenalty }
      : undefined,
  });
  let cutAt: number | undefined;
  try {
    for await (const out of iterator) {
      hooks.signal?.throwIfAborted();
      firstTokenAt ??= performance.now();
      // Only this token is detokenized (with a few tokens of context), never the whole answer.
      const context = recentTokens(prompt, generated);
      const bytes = bytesOf.of(out.token, context);
      generated.push(out.token);
      const offset = text.length;
      const piece = utf8.push(bytes);
      text += piece;
      if (params.logprobs !== undefined) {
        const top = wantTop && "probabilities" in out
          ? [...(out.probabilities as Map<Token, number>).entries()].slice(0, params.logprobs).map(([t, p]) => {
            const alt = t === out.token ? bytes : bytesOf.of(t, context);
            return { token: t === out.token ? piece : utf8.peek(alt), logprob: logOf(p), bytes: [...alt] };
          })
          : [];
        infos.push({ token: piece, logprob: logOf(out.confidence), bytes: [...bytes], top_logprobs: top, offset });
      }
      const stopAt = stops.reduce<number>((best, s) => {
        const i = text.indexOf(s, Math.max(0, emitted - s.length));
        return i >= 0 && (best < 0 || i < best) ? i : best;
      }, -1);
      if (stopAt >= 0 || triggers.tokens.some((seq) => endsWithSeq(generated, seq))) {
        // A token-sequence trigger (special tokens) never shows in the text, so nothing to cut.
        cutAt = stopAt >= 0 ? stopAt : text.length;
        break;
      }
      if (generated.length >= params.maxTokens) { finishReason = "length"; break; }
      // The start of a stop string waits for more tokens (an unfinished character already does, in utf8).
      flush(text.length - pendingStopLength(text, stops));
    }
  } finally {
    await iterator.return();
  }
  hooks.signal?.throwIfAborted();
  if (cutAt !== undefined) {
    text = text.slice(0, cutAt);
    // Tokens of the stop string itself are not part of the answer.
    const kept = infos.filter((i) => i.offset < cutAt!);
    infos.length = 0;
    infos.push(...kept);
  } else {
    // An answer cut off inside a character ends with U+FFFD, added to the last token's text.
    const tail = utf8.end();
    if (tail) {
      text += tail;
      const last = infos.at(-1);
      if (last) last.token += tail;
    }
  }
  flush(text.length, true);
  return {
    text,
    finishReason,
    completionTokens: slot.tokenMeter.usedOutputTokens - outputBefore,
    firstTokenAt,
    logprobs: params.logprobs !== undefined ? infos : undefined,
  };
}
