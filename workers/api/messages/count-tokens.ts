// POST /v1/messages/count_tokens: how many input tokens a Messages request would take. When the
// target the route would try first is an Anthropic provider, its own count_tokens answers (the
// exact count, for that model, with the client's body as sent and the model swapped); otherwise,
// or when that call fails, the gateway's estimate (the one it reserves limits and budgets with).
// The x-edgeclaw-token-count header says which: "upstream" or "estimate".
// Counting is not metered and reserves nothing: Anthropic does not bill it, and no model runs.
import type { Context } from "hono";
import { countTokensRequest, tokensCount, type CountTokensRequest } from "../../../schema/anthropic.ts";
import { settings, type AppEnv, type Env } from "../../env.ts";
import { readJsonBody } from "../../http/body.ts";
import { joinChunks, readUpTo } from "../../http/bounded-read.ts";
import { ApiError } from "../../http/errors.ts";
import { parseOr400 } from "../../http/validation.ts";
import { providerCredential } from "../../router/credentials.ts";
import { adapters } from "../../router/providers/index.ts";
import { estimatePromptTokens, matches, requestFacts, type RequestFacts } from "../../router/facts.ts";
import { keySettings, reserve } from "../../router/limits.ts";
import { assertModelKind } from "../../router/operations/index.ts";
import { declaredBy, refusedUrl } from "../../router/outbound.ts";
import type { CompiledNode, CompiledTarget } from "../../router/routing.ts";
import { routingFor } from "../../router/routing.ts";
import { waitUntilOf } from "../pipeline.ts";
import { checkAnthropicVersion } from "./index.ts";
import { promptToChat } from "./to-chat.ts";

// An answer is one small JSON object.
const MAX_ANSWER_BYTES = 16 * 1024;

// The target a request would be sent to first: the matching rule of a conditional, the first
// child of a fallback, the heaviest child of a weighted group.
function firstTarget(node: CompiledNode, facts: RequestFacts): CompiledTarget {
  if (node.kind === "target") return node;
  if (node.kind === "conditional") {
    const rule = node.rules.find((r) => matches(r.when, facts));
    return firstTarget(rule ? rule.node : node.otherwise, facts);
  }
  const children = node.kind === "fallback" ? node.children : [...node.children].sort((a, b) => b.weight - a.weight);
  return firstTarget(children[0] as CompiledNode, facts);
}

async function upstreamCount(env: Env, tenantId: string, target: CompiledTarget, request: CountTokensRequest, requestId: string): Promise<number | null> {
  const provider = target.provider;
  if (!provider || provider.kind !== "anthropic") return null;
  const url = provider.baseUrl;
  // The same point-of-use checks as a model call: the credential only goes where it may.
  if (!declaredBy(provider, url) || refusedUrl(env, url) !== null) return null;
  const credential = await providerCredential(env, tenantId, provider.credentialRef);
  try {
    const response = await fetch(`${url}/messages/count_tokens`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-request-id": requestId,
        ...adapters.anthropic.headers({ baseUrl: url, model: target.node.model, credential }),
      },
      body: JSON.stringify({ ...request, model: target.node.model }),
      signal: AbortSignal.timeout(provider.timeoutMs ?? settings(env).upstreamTimeoutMs),
      redirect: "manual",
    });
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {});
      return null;
    }
    const read = await readUpTo(response.body, MAX_ANSWER_BYTES);
    if (read.over) return null;
    const parsed = tokensCount.safeParse(JSON.parse(new TextDecoder().decode(joinChunks(read))));
    return parsed.success ? parsed.data.input_tokens : null;
  } catch {
    return null;
  }
}

export async function countTokens(c: Context<AppEnv>): Promise<Response> {
  checkAnthropicVersion(c);
  const request = parseOr400(countTokensRequest, await readJsonBody(c, settings(c.env).maxRequestBytes));
  const principal = c.get("principal");
  const routing = await routingFor(c.env, principal.tenantId, waitUntilOf(c));
  const route = routing.routes.get(request.model);
  if (!route) {
    throw new ApiError(404, "model_not_found", `The model '${request.model}' does not exist or you do not have access to it.`, { param: "model" });
  }
  const chat = promptToChat(request);
  const facts = requestFacts(chat, {
    tier: routing.config.tier ?? null,
    priority: keySettings(routing.config, principal.keyId).priority,
    headers: c.req.raw.headers,
  });
  // Counting is for chat models; an embedding model is refused as on /v1/messages.
  assertModelKind(route, undefined);
  const target = firstTarget(route.root, facts);
  c.header("x-edgeclaw-model", route.name);
  c.header("x-edgeclaw-target", target.path);
  // An upstream count spends a request of the tenant's Anthropic credential: it counts against the
  // key's and tenant's request limits (no tokens, no spend), like any model call.
  if (target.provider?.kind === "anthropic") {
    const held = await reserve(c.env, routing.config, { tenantId: principal.tenantId, keyId: principal.keyId }, { tokens: 0, microUsd: 0 }, waitUntilOf(c));
    waitUntilOf(c)(held.settle(null, { input: 0, output: 0 }));
  }
  const counted = await upstreamCount(c.env, principal.tenantId, target, request, c.get("requestId"));
  if (counted !== null) {
    c.header("x-edgeclaw-token-count", "upstream");
    return c.json({ input_tokens: counted }, 200);
  }
  c.header("x-edgeclaw-token-count", "estimate");
  return c.json({ input_tokens: estimatePromptTokens(chat) }, 200);
}
