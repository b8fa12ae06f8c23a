// POST /v1/chat/completions: validate, render and count the prompt, wait for a slot, generate.
import type { Context } from "hono";
import type { LlamaContextSequence } from "node-llama-cpp";
import { ContextLengthError, type GenerationResult, type LoadedModel } from "../../engine/loaded-model.ts";
import { QueueFullError } from "../../engine/slot-pool.ts";
import { translateRequest, type TranslatedRequest } from "../chat-request.ts";
import { chunkWriter, completionBody, completionId, usage, type ChatAnswer } from "../chat-response.ts";
import { runChat, type ChatSink } from "../chat-run.ts";
import type { Deps } from "../deps.ts";
import { ApiError, fromZod } from "../errors.ts";
import { assertChatBodyBounds } from "../json-bounds.ts";
import { ChatCompletionRequest } from "../schema.ts";

class ClientGone extends Error {}
/** What a request that its client abandoned answers (nobody reads it; it keeps the logs quiet). */
const abandoned = () => new ApiError(408, "The client closed the request.", "request_cancelled");

export function chatCompletions(deps: Deps) {
  return async (c: Context) => {
    const arrivedAt = performance.now();
    const json = await c.req.json().catch(() => {
      throw new ApiError(400, "The request body is not valid JSON.", "invalid_json");
    });
    assertChatBodyBounds(json);
    const parsed = ChatCompletionRequest.safeParse(json);
    if (!parsed.success) throw fromZod(parsed.error);
    const body = parsed.data;
    const request = await translateRequest(body, deps.llama);

    // From here to acquire() nothing awaits, so a concurrent model swap cannot retire the model
    // between looking it up and taking a place in its queue.
    const model = deps.registry.get(body.model);
    if (!model) throw new ApiError(404, `The model '${body.model}' does not exist or is not loaded.`, "model_not_found", "model");
    let prompt;
    try {
      const t = request.tools;
      prompt = model.prepare(request.messages, request.maxTokens, t.kind === "auto" ? { functions: t.functions, mode: "native" } : t.kind === "forced" ? { functions: t.functions, mode: "inline" } : undefined);
    } catch (e) {
      if (e instanceof ContextLengthError) throw new ApiError(400, e.message, "context_length_exceeded", "messages");
      throw e;
    }
    // One controller for "the client went away", whichever way node tells us.
    const cancel = new AbortController();
    const onClientAbort = () => cancel.abort(new ClientGone("client disconnected"));
    c.req.raw.signal.addEventListener("abort", onClientAbort, { once: true });

    let slot: LlamaContextSequence;
    try {
      slot = await model.acquire(prompt, cancel.signal);
    } catch (e) {
      c.req.raw.signal.removeEventListener("abort", onClientAbort);
      if (cancel.signal.aborted) throw abandoned();
      if (e instanceof QueueFullError) {
        deps.metrics.recordQueueFull();
        throw new ApiError(503, e.message, "queue_full", null, "server_error", { "Retry-After": "1" });
      }
      throw e;
    }

    const run = (sink?: ChatSink) => runChat(model, slot, prompt, request, cancel.signal, sink);
    const finish = (outcome: string, r?: GenerationResult) => {
      c.req.raw.signal.removeEventListener("abort", onClientAbort);
      model.release(slot);
      deps.metrics.recordGeneration(model.id, {
        outcome,
        promptTokens: r?.promptTokens ?? prompt.promptTokens,
        completionTokens: r?.completionTokens ?? 0,
        arrivedAt,
        firstTokenAt: r?.firstTokenAt,
        endedAt: performance.now(),
      });
    };

    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    if (!request.stream) {
      let result: GenerationResult;
      let answer: ChatAnswer;
      try {
        ({ result, answer } = await run());
      } catch (e) {
        if (!cancel.signal.aborted) {
          finish("error");
          throw e;
        }
        finish("cancelled");
        throw abandoned();
      }
      finish(result.finishReason, result);
      return c.json(completionBody(id, model.id, model.fingerprint, created, answer, usage(result.promptTokens, result.completionTokens)));
    }
    return streamCompletion(c, model, request, run, finish, cancel, chunkWriter(id, model.id, model.fingerprint, created, request.includeUsage));
  };
}

function streamCompletion(
  c: Context,
  model: LoadedModel,
  request: TranslatedRequest,
  run: (sink: ChatSink) => Promise<{ result: GenerationResult; answer: ChatAnswer }>,
  finish: (outcome: string, r?: GenerationResult) => void,
  cancel: AbortController,
  chunks: ReturnType<typeof chunkWriter>,
) {
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (s: string) => controller.enqueue(encoder.encode(s));
      send(chunks.role());
      try {
        const { result, answer } = await run({
          text: (text, logprobs) => { if (text || logprobs?.length) send(chunks.content(text, logprobs)); },
          toolCall: (index, call) => send(chunks.toolCall(index, call)),
        });
        finish(result.finishReason, result);
        send(chunks.finish(answer.finish));
        if (request.includeUsage) send(chunks.usage(usage(result.promptTokens, result.completionTokens)));
        send(chunks.done());
        controller.close();
      } catch (e) {
        const gone = cancel.signal.aborted;
        finish(gone ? "cancelled" : "error");
        if (gone) return; // nobody is listening
        // Headers are long sent: report the failure in-band, in OpenAI's error shape.
        console.error(`[gpu-backend] stream for ${model.id} failed:`, e instanceof Error ? e.message : e);
        send(chunks.error(new ApiError(500, "Generation failed.", "generation_failed").body));
        controller.close();
      }
    },
    cancel() {
      cancel.abort(new ClientGone("client disconnected"));
    },
  });
  return c.body(stream, 200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", Connection: "keep-alive" });
}
