// POST /v1/chat/completions: validate, render and count the prompt, wait for a slot, generate.
import type { Context } from "hono";
import { ContextLengthError, type GenerationResult } from "../../engine/loaded-model.ts";
import { translateRequest } from "../chat-request.ts";
import { chunkWriter, completionBody, completionId, usage, type ChatAnswer } from "../chat-response.ts";
import { runChat, type ChatSink } from "../chat-run.ts";
import type { Deps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { assertChatBodyBounds } from "../json-bounds.ts";
import { ChatCompletionRequest } from "../schema.ts";
import { abandoned, ClientGone, holdSlot, modelFor, parseRequest, sse, type SlotSession } from "../slot-session.ts";

export function chatCompletions(deps: Deps) {
  return async (c: Context) => {
    const arrivedAt = performance.now();
    const body = await parseRequest(c, ChatCompletionRequest, assertChatBodyBounds);
    const request = await translateRequest(body, deps.llama);

    // From here to acquire() nothing awaits, so a concurrent model swap cannot retire the model
    // between looking it up and taking a place in its queue.
    const model = modelFor(deps, body.model);
    let prompt;
    try {
      const t = request.tools;
      prompt = model.prepare(request.messages, request.maxTokens, t.kind === "auto" ? { functions: t.functions, mode: "native" } : t.kind === "forced" ? { functions: t.functions, mode: "inline" } : undefined);
    } catch (e) {
      if (e instanceof ContextLengthError) throw new ApiError(400, e.message, "context_length_exceeded", "messages");
      throw e;
    }
    const session = await holdSlot(c, deps, model, prompt, arrivedAt, "chat");
    const run = (sink?: ChatSink) => runChat(model, session.slot, prompt, request, session.cancel.signal, sink);

    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    if (!request.stream) {
      let result: GenerationResult;
      let answer: ChatAnswer;
      try {
        ({ result, answer } = await run());
      } catch (e) {
        if (!session.cancel.signal.aborted) {
          session.finish("error");
          throw e;
        }
        session.finish("cancelled");
        throw abandoned();
      }
      session.finish(answer.finish, result);
      return c.json(completionBody(id, model.id, model.fingerprint, created, answer, usage(result.promptTokens, result.completionTokens)));
    }
    return sse(c, chatStream(model.id, session, run, chunkWriter(id, model.id, model.fingerprint, created, request.includeUsage), request.includeUsage));
  };
}

function chatStream(
  modelId: string,
  session: SlotSession,
  run: (sink: ChatSink) => Promise<{ result: GenerationResult; answer: ChatAnswer }>,
  chunks: ReturnType<typeof chunkWriter>,
  includeUsage: boolean,
) {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (s: string) => controller.enqueue(encoder.encode(s));
      send(chunks.role());
      try {
        const { result, answer } = await run({
          text: (text, logprobs) => { if (text || logprobs?.length) send(chunks.content(text, logprobs)); },
          toolCall: (index, call) => send(chunks.toolCall(index, call)),
        });
        session.finish(answer.finish, result);
        send(chunks.finish(answer.finish));
        if (includeUsage) send(chunks.usage(usage(result.promptTokens, result.completionTokens)));
        send(chunks.done());
        controller.close();
      } catch (e) {
        const gone = session.cancel.signal.aborted;
        session.finish(gone ? "cancelled" : "error");
        if (gone) return; // nobody is listening
        // Headers are long sent: report the failure in-band, in OpenAI's error shape.
        console.error(`[gpu-backend] stream for ${modelId} failed:`, e instanceof Error ? e.message : e);
        send(chunks.error(new ApiError(500, "Generation failed.", "generation_failed").body));
        controller.close();
      }
    },
    cancel() {
      session.cancel.abort(new ClientGone("client disconnected"));
    },
  });
}
