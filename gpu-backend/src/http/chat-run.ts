// Runs one chat generation on a held slot, in whichever of the three ways the request needs, and
// shapes the answer: plain or "auto" tools (LlamaChat), forced tool calls (LlamaChat with the call
// grammar, see engine/tools.ts), or logprobs (the token loop, engine/token-loop.ts).
import type { LlamaContextSequence } from "node-llama-cpp";
import type { GenerationResult, LoadedModel, PreparedPrompt } from "../engine/loaded-model.ts";
import type { TokenLogprob } from "../engine/token-loop.ts";
import { parseForcedCalls, toolCallId } from "../engine/tools.ts";
import type { TranslatedRequest } from "./chat-request.ts";
import type { ChatAnswer, ToolCallOut } from "./chat-response.ts";

const parses = (text: string) => { try { JSON.parse(text); return true; } catch { return false; } };

/** Where a stream sends what is generated, as it is generated. */
export type ChatSink = {
  text: (text: string, logprobs?: readonly TokenLogprob[]) => void;
  toolCall: (index: number, call: { id?: string; name?: string; arguments: string }) => void;
};

export async function runChat(
  model: LoadedModel,
  slot: LlamaContextSequence,
  prompt: PreparedPrompt,
  request: TranslatedRequest,
  signal: AbortSignal,
  sink?: ChatSink,
): Promise<{ result: GenerationResult; answer: ChatAnswer }> {
  const params = { messages: request.messages, ...request.params };
  if (request.topLogprobs !== undefined) {
    const result = await model.generateTokens(slot, prompt.tokens, {
      maxTokens: prompt.maxTokens,
      temperature: params.temperature,
      topP: params.topP,
      seed: params.seed,
      stop: params.stop,
      stopTriggers: prompt.stopTriggers,
      frequencyPenalty: params.frequencyPenalty,
      presencePenalty: params.presencePenalty,
      logprobs: request.topLogprobs,
    }, { signal, onText: sink ? (t, lp) => sink.text(t, lp) : undefined });
    return { result, answer: { text: result.text, finish: result.finishReason, logprobs: result.logprobs } };
  }

  const tools = request.tools;
  if (tools.kind === "forced" && tools.named !== undefined) {
    // The answer is the arguments object itself: stream it as the call's argument deltas.
    const id = toolCallId();
    sink?.toolCall(0, { id, name: tools.named, arguments: "" });
    const result = await model.generate(slot, prompt, params, { signal, onText: sink ? (t) => t && sink.toolCall(0, { arguments: t }) : undefined });
    const call: ToolCallOut = { id, type: "function", function: { name: tools.named, arguments: result.text } };
    return { result, answer: { text: null, finish: result.finishReason === "length" ? "length" : "tool_calls", toolCalls: [call] } };
  }
  if (tools.kind === "forced") {
    // A JSON array of calls: sent once complete (splitting names from arguments needs the whole item).
    const result = await model.generate(slot, prompt, params, { signal });
    const calls = parseForcedCalls(result.text, undefined);
    if (!calls) {
      sink?.text(result.text);
      return { result, answer: { text: result.text, finish: "length" } };
    }
    const toolCalls = calls.map((c): ToolCallOut => ({ id: toolCallId(), type: "function", function: { name: c.name, arguments: JSON.stringify(c.params ?? {}) } }));
    toolCalls.forEach((c, i) => {
      sink?.toolCall(i, { id: c.id, name: c.function.name, arguments: "" });
      sink?.toolCall(i, { arguments: c.function.arguments });
    });
    return { result, answer: { text: null, finish: "tool_calls", toolCalls } };
  }

  // Plain text, or "auto": LlamaChat streams a call's parameters as it generates them.
  const started = new Map<number, { id: string; name: string; args: string }>();
  const result = await model.generate(slot, prompt, params, {
    signal,
    onText: sink ? (t) => t && sink.text(t) : undefined,
    onCallChunk: (chunk) => {
      let call = started.get(chunk.callIndex);
      if (!call) {
        call = { id: toolCallId(), name: chunk.functionName, args: "" };
        started.set(chunk.callIndex, call);
        sink?.toolCall(chunk.callIndex, { id: call.id, name: call.name, arguments: "" });
      }
      call.args += chunk.paramsChunk;
      if (chunk.paramsChunk) sink?.toolCall(chunk.callIndex, { arguments: chunk.paramsChunk });
    },
  });
  const toolCalls = (result.functionCalls ?? []).map((c, i): ToolCallOut => {
    const streamed = started.get(i);
    const args = streamed && parses(streamed.args) ? streamed.args : JSON.stringify(c.params ?? {});
    return { id: streamed?.id ?? toolCallId(), type: "function", function: { name: c.name, arguments: args } };
  });
  return { result, answer: { text: toolCalls.length && !result.text ? null : result.text, finish: result.finishReason, toolCalls: toolCalls.length ? toolCalls : undefined } };
}
