// Operations other than chat that the router runs: legacy text completions and embeddings. They go
// through the same machinery as chat (tree, retries, breakers, replicas, QoS, outbound-URL checks,
// deadlines, size caps, limits and budgets, the cache); what differs per provider kind is the
// upstream call, described by an OperationAdapter next to the kind's chat adapter. A kind without
// an adapter for an operation is unavailable for it: the tree moves on to the next target, and a
// route none of whose targets can serve it answers 400.
import type { CompletionRequest } from "../../../schema/completions.ts";
import type { EmbeddingRequest } from "../../../schema/embeddings.ts";
import type { Env } from "../../env.ts";
import type { MapContext } from "../providers/types.ts";
import type { ChunkTransform } from "../sse.ts";

export type OperationName = "completions" | "embeddings";

// What the pipeline hands the router besides the chat view of the request (RunContext.request,
// which routing facts and the chat translations read): the operation's own validated body, and
// the estimates limits, budgets and routing facts use.
export type Operation = ({ name: "completions"; request: CompletionRequest } | { name: "embeddings"; request: EmbeddingRequest }) & {
  promptTokens: number;
};

// An operation's JSON answer in OpenAI's shape for it (text_completion, embedding list), as the
// client gets it; usage is what the reservation is settled with.
export interface OperationResponse {
  usage?: { prompt_tokens: number; completion_tokens?: number; total_tokens?: number } | null;
  [field: string]: unknown;
}

// Why a target cannot serve this request (a 400 when no target of the route can).
export interface Refusal {
  code: "unsupported_operation" | "unsupported_parameter" | "unsupported_value";
  message: string;
  param?: string;
}

export interface OperationAdapter<R> {
  // null when the target can serve the request; else why not.
  refuse?(request: R): Refusal | null;
  url(baseUrl: string): string;
  // The upstream body. ctx.request is the chat view of the request (for translations to chat).
  body(request: R, ctx: MapContext): Record<string, unknown>;
  // null when the body is not a usable answer (the gateway then answers 502).
  toResponse(body: unknown, request: R, ctx: MapContext): OperationResponse | null;
  // Stream events -> the operation's chunk payloads. Absent: the operation never streams.
  toStreamChunks?(request: R): ChunkTransform;
  // For upstreams not reached over HTTP (the Workers AI binding), as ProviderAdapter.send.
  send?(body: Record<string, unknown>, ctx: MapContext, env: Env, signal: AbortSignal): Promise<Response>;
}

export interface Operations {
  completions?: OperationAdapter<CompletionRequest>;
  embeddings?: OperationAdapter<EmbeddingRequest>;
}

// An adapter with the request bound: what one upstream call (upstream.ts) uses instead of the
// chat adapter's url, body mapping and answer transforms. Headers and error bodies stay the
// provider family's (ProviderAdapter.headers, errorMessage).
export interface BoundOperation {
  url(baseUrl: string): string;
  body(ctx: MapContext): Record<string, unknown>;
  toResponse(body: unknown, ctx: MapContext): OperationResponse | null;
  toStreamChunks: ChunkTransform;
  send?(body: Record<string, unknown>, ctx: MapContext, env: Env, signal: AbortSignal): Promise<Response>;
}
