// POST /v1/embeddings: OpenAI's shape, from the loaded model's embedding context (engine/embeddings.ts).
// Inputs: a string, strings, a token array or token arrays; at most MAX_EMBEDDING_INPUTS inputs and
// MAX_EMBEDDING_TOKENS tokens together, each shorter than the model's context.
import type { Context } from "hono";
import type { Token } from "node-llama-cpp";
import { InputTooLongError } from "../../engine/embeddings.ts";
import { QueueFullError } from "../../engine/slot-pool.ts";
import type { Deps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { abandoned, modelFor, parseRequest, queueFull } from "../slot-session.ts";
import { traceOf } from "../../tracing/tracer.ts";
import { EmbeddingRequest, MAX_EMBEDDING_TOKENS } from "../v1-schemas.ts";
import { assertTokenIds } from "./completions.ts";

/** OpenAI's base64 encoding: the float32 values as little-endian bytes. */
export function toBase64(v: Float32Array): string {
  const bytes = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString("base64");
}

export function embeddings(deps: Deps) {
  return async (c: Context) => {
    const arrivedAt = performance.now();
    const body = await parseRequest(c, EmbeddingRequest);
    const model = modelFor(deps, body.model);
    const input = body.input;
    const inputs: (string | Token[])[] =
      typeof input === "string" ? [input] : typeof input[0] === "number" ? [input as Token[]] : (input as (string | Token[])[]);
    inputs.forEach((x, i) => { if (typeof x !== "string") assertTokenIds(model, x, Array.isArray(input[0]) ? `input[${i}]` : "input"); });
    const embedder = model.embedder;
    const dims = body.dimensions ?? embedder.dimensions;
    if (dims > embedder.dimensions) throw new ApiError(400, `dimensions ${dims} is larger than this model's ${embedder.dimensions}.`, "invalid_value", "dimensions");

    const cancel = new AbortController();
    const onAbort = () => cancel.abort(new Error("client disconnected"));
    c.req.raw.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const prepared = await embedder.prepare(inputs);
      if (prepared.total > MAX_EMBEDDING_TOKENS) throw new ApiError(400, `The inputs hold ${prepared.total} tokens together; at most ${MAX_EMBEDDING_TOKENS} per request.`, "invalid_value", "input");
      const queuedAt = performance.now();
      const { vectors, promptTokens, startedAt } = await embedder.embed(prepared, dims, cancel.signal);
      const trace = traceOf(c);
      if (trace) {
        // The phases: prepare (validation, tokenizing), queue_wait (for the embedding context), embedding.
        const usage = { "gen_ai.usage.input_tokens": promptTokens };
        trace.child("prepare", arrivedAt, queuedAt, usage);
        trace.child("queue_wait", queuedAt, startedAt);
        trace.child("embedding", startedAt, performance.now(), { ...usage, "edgeclaw.embedding.inputs": vectors.length, "edgeclaw.embedding.dimensions": dims });
        Object.assign(trace.attributes, { "gen_ai.operation.name": "embeddings", "gen_ai.request.model": model.id, ...usage });
      }
      const base64 = body.encoding_format === "base64";
      return c.json({
        object: "list",
        data: vectors.map((v, index) => ({ object: "embedding", index, embedding: base64 ? toBase64(v) : Array.from(v) })),
        model: model.id,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      });
    } catch (e) {
      if (cancel.signal.aborted) throw abandoned();
      if (e instanceof InputTooLongError) throw new ApiError(400, e.message, "context_length_exceeded", Array.isArray(input) && inputs.length > 1 ? `input[${e.index}]` : "input");
      if (e instanceof QueueFullError) throw queueFull(deps, e);
      throw e;
    } finally {
      c.req.raw.signal.removeEventListener("abort", onAbort);
    }
  };
}
