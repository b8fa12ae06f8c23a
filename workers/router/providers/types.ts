// What a provider adapter is: data plus three transforms. The gateway speaks OpenAI's chat
// completion format on both sides of the router; an adapter says how one upstream family differs:
//   - params: a parameter map (Portkey-style): OpenAI request field -> upstream field, with an
//     optional value transform; fields missing from the map are not sent upstream;
//   - finalizeBody: reshapes the mapped body where a family nests or splits fields;
//   - toResponse / toStreamChunks: the upstream's answer and SSE events back to OpenAI's shapes.
// A new family (Anthropic Messages, the Workers AI binding) is a new object of this type, not a
// copy of the request/stream plumbing in ../upstream.ts and ../sse.ts.
import type { ProviderKind } from "../../../schema/admin.ts";
import type { ChatCompletionRequest, ChatCompletionResponse } from "../../../schema/openai.ts";
import type { Env } from "../../env.ts";
import type { ChunkTransform } from "../sse.ts";

export interface UpstreamTarget {
  baseUrl: string;
  model: string;
  credential: string | undefined;
}

export interface MapContext {
  request: ChatCompletionRequest;
  target: UpstreamTarget;
}

export interface ParamRule {
  to: string;
  // Returns the upstream value; undefined leaves the field out.
  transform?: (value: unknown, ctx: MapContext) => unknown;
}

export type ParamMap = { readonly [K in keyof ChatCompletionRequest]-?: ParamRule | null };

export interface ProviderAdapter {
  kind: ProviderKind;
  params: ParamMap;
  chatUrl(baseUrl: string): string;
  headers(target: UpstreamTarget): Record<string, string>;
  finalizeBody?(mapped: Record<string, unknown>, ctx: MapContext): Record<string, unknown>;
  // null when the body is not a usable answer (the gateway then answers 502).
  toResponse(body: unknown, ctx: MapContext): ChatCompletionResponse | null;
  // One SSE event's data (and event name, for families that use them) -> OpenAI chunk payloads.
  // `state` is one object per stream (see ChunkTransform in ../sse.ts).
  toStreamChunks: ChunkTransform;
  // The human-readable message and the machine code in an upstream error body, if any (the
  // code decides error classes such as context_length_exceeded).
  errorMessage(body: unknown): string | undefined;
  errorCode?(body: unknown): string | undefined;
  // For upstreams that are not reached over HTTP (the Workers AI binding): makes the call and
  // answers as the HTTP upstream would (status, JSON or text/event-stream body).
  send?(body: Record<string, unknown>, ctx: MapContext, env: Env, signal: AbortSignal): Promise<Response>;
}
