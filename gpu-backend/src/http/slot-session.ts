// Holding a generation slot for one HTTP request: wait in the model's queue (503 queue_full past
// its limit), stop when the client goes away (whichever way node reports it), and on the way out
// release the slot and record the request's metrics exactly once.
import type { Context } from "hono";
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { GenerationResult, LoadedModel } from "../engine/loaded-model.ts";
import { QueueFullError } from "../engine/slot-pool.ts";
import type { Deps } from "./deps.ts";
import type { z } from "zod";
import { ApiError, fromZod } from "./errors.ts";
import { assertBodyBounds } from "./json-bounds.ts";

export class ClientGone extends Error {}
/** What a request that its client abandoned answers (nobody reads it; it keeps the logs quiet). */
export const abandoned = () => new ApiError(408, "The client closed the request.", "request_cancelled");

export type SlotSession = {
  slot: LlamaContextSequence;
  cancel: AbortController;
  /** Releases the slot and records the outcome (stop, length, tool_calls, cancelled, error). */
  finish: (outcome: string, r?: GenerationResult) => void;
};

export async function holdSlot(c: Context, deps: Deps, model: LoadedModel, prompt: { tokens: readonly Token[]; promptTokens: number }, arrivedAt: number): Promise<SlotSession> {
  const cancel = new AbortController();
  const onClientAbort = () => cancel.abort(new ClientGone("client disconnected"));
  c.req.raw.signal.addEventListener("abort", onClientAbort, { once: true });
  let slot: LlamaContextSequence;
  try {
    slot = await model.acquire(prompt, cancel.signal);
  } catch (e) {
    c.req.raw.signal.removeEventListener("abort", onClientAbort);
    if (cancel.signal.aborted) throw abandoned();
    if (e instanceof QueueFullError) throw queueFull(deps, e);
    throw e;
  }
  let done = false;
  const finish = (outcome: string, r?: GenerationResult) => {
    if (done) return;
    done = true;
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
  return { slot, cancel, finish };
}

/** A full queue: 503 queue_full with Retry-After, counted, so the router tries another replica. */
export function queueFull(deps: Deps, e: QueueFullError): ApiError {
  deps.metrics.recordQueueFull();
  return new ApiError(503, e.message, "queue_full", null, "server_error", { "Retry-After": "1" });
}

/** An SSE response from a stream body. */
export const sse = (c: Context, body: ReadableStream<Uint8Array>) =>
  c.body(body, 200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", Connection: "keep-alive" });

/** Parses the JSON body (400 invalid_json otherwise). */
export async function jsonBody(c: Context): Promise<unknown> {
  return c.req.json().catch(() => {
    throw new ApiError(400, "The request body is not valid JSON.", "invalid_json");
  });
}

/**
 * A route's request: the JSON body, held to `bounds` (without recursion) before the validator,
 * which recurses, sees it, then validated by `schema` (400 naming the field otherwise).
 */
export async function parseRequest<S extends z.ZodType>(c: Context, schema: S, bounds: (json: unknown) => void = assertBodyBounds): Promise<z.output<S>> {
  const json = await jsonBody(c);
  bounds(json);
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw fromZod(parsed.error);
  return parsed.data;
}

/** The loaded model a request names (404 model_not_found otherwise). */
export function modelFor(deps: Deps, id: string): LoadedModel {
  const model = deps.registry.get(id);
  if (!model) throw new ApiError(404, `The model '${id}' does not exist or is not loaded.`, "model_not_found", "model");
  return model;
}
