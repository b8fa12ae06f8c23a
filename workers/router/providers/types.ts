// What a provider adapter is: data plus three transforms. The gateway speaks OpenAI's chat
// completion format on both sides of the router; an adapter says how one upstream family differs:
//   - params: a parameter map (Portkey-style): OpenAI request field -> upstream field, with an
//     optional value transform; null (or a rule whose `drops` says so for this request) is a
//     parameter the family cannot carry: it is left out and named in x-edgeclaw-dropped-params,
//     or the target is refused for the request when its route says drop_params: false;
//   - extras: what happens to top-level fields the gateway does not know (pass or drop);
//   - finalizeBody: reshapes the mapped body where a family nests or splits fields;
//   - toResponse / toStreamChunks: the upstream's answer and SSE events back to OpenAI's shapes.
// A new family (Anthropic Messages, the Workers AI binding) is a new object of this type, not a
// copy of the request/stream plumbing in ../upstream.ts and ../sse.ts.
import type { ProviderKind } from "../../../schema/admin.ts";
import type { ChatCompletionRequest, ChatCompletionResponse, KnownChatParam } from "../../../schema/openai.ts";
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
  // Returns the upstream value; undefined leaves the field out silently (the value needs nothing
  // upstream, or another field carries it).
  transform?: (value: unknown, ctx: MapContext) => unknown;
  // True when this value cannot be carried in this request (Anthropic's temperature while
  // thinking is on): it is left out and reported as dropped. Values are never null/undefined.
  drops?: (value: unknown, ctx: MapContext) => boolean;
  // True when only part of the value cannot be carried (custom tools among function tools): the
  // transform keeps what it can, and the field is reported as dropped.
  partly?: (value: unknown, ctx: MapContext) => boolean;
}

export type ParamMap = { readonly [K in KnownChatParam]-?: ParamRule | null };

export interface ProviderAdapter {
  kind: ProviderKind;
  params: ParamMap;
  // Top-level fields the gateway does not know: sent as they are ("pass": the upstream speaks
  // OpenAI's dialect and its extensions) or dropped and reported ("drop"). A "drop" family also
  // gets no field whose value is null (OpenAI's "the default").
  extras: "pass" | "drop";
  chatUrl(baseUrl: string): string;
  headers(target: UpstreamTarget): Record<string, string>;
  finalizeBody?(mapped: Record<string, unknown>, ctx: MapContext): Record<string, unknown>;
  // The upstream's own body, when the request carries one (an Anthropic Messages ingress request
  // bound for an Anthropic upstream): sent instead of the mapped one, nothing dropped.
  nativeBody?(ctx: MapContext): Record<string, unknown> | undefined;
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
