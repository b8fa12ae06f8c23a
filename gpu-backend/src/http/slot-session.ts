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
import { traceOf, type RequestTrace } from "../tracing/tracer.ts";

export class ClientGone extends Error {}
/** What a request that its client abandoned answers (nobody reads it; it keeps the logs quiet). */
export const abandoned = () => new ApiError(408, "The client closed the request.", "request_cancelled");

export type SlotSession = {
  slot: LlamaContextSequence;
  cancel: AbortController;
  /** Releases the slot and records the outcome (stop, length, tool_calls, cancelled, error). */
  finish: (outcome: string, r?: GenerationResult) => void;
};

export async function holdSlot(c: Context, deps: Deps, model: LoadedModel, prompt: { tokens: readonly Token[]; promptTokens: number }, arrivedAt: number, operation: "chat" | "text_completion"): Promise<SlotSession> {
  const cancel = new AbortController();
  const onClientAbort = () => cancel.abort(new ClientGone("client disconnected"));
  c.req.raw.signal.addEventListener("abort", onClientAbort, { once: true });
  const trace = traceOf(c);
  const queuedAt = performance.now();
  const ahead = model.pool.waiting;
  let slot: LlamaContextSequence;
  try {
    slot = await model.acquire(prompt, cancel.signal);
  } catch (e) {
    c.req.raw.signal.removeEventListener("abort", onClientAbort);
    if (cancel.signal.aborted) {
      trace?.child("prepare", arrivedAt, queuedAt);
      trace?.child("queue_wait", queuedAt, performance.now(), { "edgeclaw.queue.ahead": ahead, "edgeclaw.outcome": "cancelled" });
      throw abandoned();
    }
    if (e instanceof QueueFullError) throw queueFull(deps, e);
    throw e;
  }
  const acquiredAt = performance.now();
  // A stream's span stays open until its generation ends, after the handler has returned.
  const release = trace?.hold();
  let done = false;
  const finish = (outcome: string, r?: GenerationResult) => {
    if (done) return;
    done = true;
    c.req.raw.signal.removeEventListener("abort", onClientAbort);
    model.release(slot);
    const endedAt = performance.now();
    const promptTokens = r?.promptTokens ?? prompt.promptTokens;
    const completionTokens = r?.completionTokens ?? 0;
    deps.metrics.recordGeneration(model.id, { outcome, promptTokens, completionTokens, arrivedAt, firstTokenAt: r?.firstTokenAt, endedAt });
    if (trace && release) {
      recordPhases(trace, { arrivedAt, queuedAt, acquiredAt, firstTokenAt: r?.firstTokenAt, endedAt, ahead, outcome, promptTokens, completionTokens });
      trace.attributes["gen_ai.operation.name"] = operation;
      trace.attributes["gen_ai.request.model"] = model.id;
      trace.attributes["gen_ai.usage.input_tokens"] = promptTokens;
      trace.attributes["gen_ai.usage.output_tokens"] = completionTokens;
      trace.attributes["gen_ai.response.finish_reasons"] = [outcome];
      if (outcome === "error") trace.fail("generation failed");
      release();
    }
  };
  return { slot, cancel, finish };
}

/**
 * The phases of one generation, as children of the request's span: prepare (validation, chat
 * template, tokenizing, grammar compilation), queue_wait (for a slot), prompt_eval (from the slot
 * to the first token: KV prefix reuse or erase, prompt evaluation, the first sample), generation
 * (the remaining tokens). No first token (cancelled or failed during the prompt): no generation span.
 */
function recordPhases(trace: RequestTrace, p: { arrivedAt: number; queuedAt: number; acquiredAt: number; firstTokenAt?: number; endedAt: number; ahead: number; outcome: string; promptTokens: number; completionTokens: number }) {
  const failed = p.outcome === "error" ? "generation failed" : undefined;
  trace.child("prepare", p.arrivedAt, p.queuedAt, { "gen_ai.usage.input_tokens": p.promptTokens });
  trace.child("queue_wait", p.queuedAt, p.acquiredAt, { "edgeclaw.queue.ahead": p.ahead });
  const evalEnd = p.firstTokenAt ?? p.endedAt;
  trace.child("prompt_eval", p.acquiredAt, evalEnd, { "gen_ai.usage.input_tokens": p.promptTokens }, p.firstTokenAt === undefined ? failed : undefined);
  if (p.firstTokenAt !== undefined) {
    trace.child("generation", p.firstTokenAt, p.endedAt, { "gen_ai.usage.output_tokens": p.completionTokens, "gen_ai.response.finish_reasons": [p.outcome], "edgeclaw.outcome": p.outcome }, failed);
  }
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
