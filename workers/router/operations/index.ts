// Which operations each provider kind can run (typed by the kind list, so a new kind must say),
// and the checks the pipeline and the engine make with it.
import type { ProviderKind } from "../../../schema/admin.ts";
import type { Route } from "../../../schema/route-config.ts";
import { ApiError } from "../../http/errors.ts";
import type { RequestFacts } from "../facts.ts";
import { anthropic } from "../providers/anthropic.ts";
import { workersAi } from "../providers/workers-ai.ts";
import type { CompiledRoute } from "../routing.ts";
import { completionsViaChat, nativeCompletions } from "./completions.ts";
import { nativeEmbeddings, workersAiEmbeddings } from "./embeddings.ts";
import type { BoundOperation, Operation, OperationAdapter, Operations, Refusal } from "./types.ts";

export type { BoundOperation, Operation, OperationName, OperationResponse } from "./types.ts";

export const operations: Readonly<Record<ProviderKind, Operations>> = {
  "openai-compatible": { completions: nativeCompletions, embeddings: nativeEmbeddings },
  anthropic: { completions: completionsViaChat(anthropic) },
  "workers-ai": { completions: completionsViaChat(workersAi), embeddings: workersAiEmbeddings },
};

const ENDPOINT = { chat: "POST /v1/chat/completions", completions: "POST /v1/completions", embeddings: "POST /v1/embeddings" } as const;

// The operation's adapter for a provider kind with the request bound, or why the kind cannot
// serve it.
export function bindOperation(kind: ProviderKind, operation: Operation): BoundOperation | Refusal {
  const adapter = operations[kind][operation.name] as OperationAdapter<Operation["request"]> | undefined;
  if (!adapter) {
    return { code: "unsupported_operation", message: `has no ${operation.name} API (a ${kind} provider cannot serve ${ENDPOINT[operation.name]})` };
  }
  const request = operation.request;
  const refusal = adapter.refuse?.(request);
  if (refusal) return refusal;
  return {
    url: adapter.url,
    body: (ctx) => adapter.body(request, ctx),
    toResponse: (body, ctx) => adapter.toResponse(body, request, ctx),
    // An operation that never streams gets no stream (the handler refuses stream: true).
    toStreamChunks: adapter.toStreamChunks ? adapter.toStreamChunks(request) : () => [],
    ...(adapter.send ? { send: adapter.send } : {}),
  };
}

export function isRefusal(bound: BoundOperation | Refusal): bound is Refusal {
  return "code" in bound;
}

// Chat models serve chat and text completions; embedding models serve embeddings only. A call
// to the other kind is a clear 400 before anything is reserved.
export function assertModelKind(route: CompiledRoute, operation: Operation | undefined): void {
  const wanted = operation?.name === "embeddings" ? "embedding" : "chat";
  if (route.kind === wanted) return;
  const endpoint = ENDPOINT[operation?.name ?? "chat"];
  const message =
    route.kind === "embedding"
      ? `The model '${route.name}' is an embedding model: it cannot serve ${endpoint}. Call POST /v1/embeddings with it, or pick a chat model.`
      : `The model '${route.name}' is a chat model, not an embedding model: it cannot serve ${endpoint}. Pick an embedding model.`;
  throw new ApiError(400, "unsupported_model", message, { param: "model" });
}

// Routing facts from the operation's own estimates (the chat view's text stands in for the
// prompt's; an embedding generates nothing).
export function applyOperationFacts(facts: RequestFacts, operation: Operation): void {
  facts.prompt_tokens = operation.promptTokens;
  if (operation.name === "embeddings") facts.max_tokens = 0;
}

// Embeddings are deterministic, so they are cached by default (exact match, for
// DEFAULT_EMBEDDING_TTL_S) unless the route's cache settings say otherwise (ttl_s: 0 turns it
// off); completions follow the route like chat.
export const DEFAULT_EMBEDDING_TTL_S = 86_400;

export function operationCache(route: CompiledRoute, operation: Operation): Route["cache"] {
  if (operation.name !== "embeddings") return route.cache;
  return { ttl_s: route.cache?.ttl_s ?? DEFAULT_EMBEDDING_TTL_S, nondeterministic: true };
}
