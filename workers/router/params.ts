// A route's say over request parameters (drop_params / strict_params in
// schema/route-config.ts), applied once the route is known: the body was parsed loosely
// (schema/chat-params.ts already refused near misses of known names and unbounded extras).
import { unknownParamNames } from "../../schema/chat-params.ts";
import { knownCompletionParams } from "../../schema/completions.ts";
import { knownEmbeddingParams } from "../../schema/embeddings.ts";
import { knownChatParams, type ChatCompletionRequest } from "../../schema/openai.ts";
import { ApiError } from "../http/errors.ts";
import { adapters } from "./providers/index.ts";
import { droppedParams } from "./providers/map-request.ts";
import type { ProviderAdapter } from "./providers/types.ts";
import type { CompiledRoute, CompiledTarget } from "./routing.ts";

const KNOWN = { chat: knownChatParams, completions: knownCompletionParams, embeddings: knownEmbeddingParams } as const;

// strict_params: fields the gateway does not know are a 400, as OpenAI answers them. `body` is
// what the client sent: the chat request, or an operation's own request (not its chat view).
export function enforceStrictParams(route: CompiledRoute, body: object, endpoint: keyof typeof KNOWN = "chat"): void {
  if (!route.strictParams) return;
  const unknown = unknownParamNames(body as Record<string, unknown>, KNOWN[endpoint]);
  if (unknown.length === 0) return;
  throw new ApiError(400, "unknown_parameter", `Unrecognized request argument supplied: ${unknown.join(", ")} (the route '${route.name}' accepts only known parameters: strict_params).`, {
    param: unknown[0] ?? null,
  });
}

// What the target's adapter would leave out of this request.
export function paramsDroppedBy(adapter: ProviderAdapter, target: CompiledTarget, request: ChatCompletionRequest): string[] {
  return droppedParams(adapter, { request, target: { baseUrl: target.provider?.baseUrl ?? "", model: target.node.model, credential: undefined } });
}

// For a cached answer: what the target at `path` (which served the identical request) left out.
export function droppedOnPath(route: CompiledRoute, path: string, request: ChatCompletionRequest): string[] {
  const target = route.targets.find((t) => t.path === path);
  return target?.provider ? paramsDroppedBy(adapters[target.provider.kind], target, request) : [];
}

// drop_params: false, and the target cannot carry them: the error this target fails with (the
// engine moves on to a sibling that can; the client sees it when none could).
export function unsupportedParams(target: CompiledTarget, kind: string, dropped: string[]): ApiError {
  return new ApiError(
    400,
    "unsupported_parameter",
    `The ${kind} provider behind ${target.path} cannot carry ${dropped.map((p) => `'${p}'`).join(", ")}, and this route does not drop parameters (drop_params: false). Remove them, or route to a provider that takes them.`,
    { param: dropped[0] ?? null },
  );
}
