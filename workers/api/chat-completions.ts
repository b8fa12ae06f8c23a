// POST /v1/chat/completions: validate, pick the tenant's target, call it through its adapter,
// answer as JSON or relay the SSE stream as it arrives.
import type { Context } from "hono";
import { chatCompletionRequest } from "../../schema/openai.ts";
import { settings, type AppEnv } from "../env.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { providerCredential } from "../router/credentials.ts";
import { adapters } from "../router/providers/index.ts";
import { resolveModel } from "../router/resolve.ts";
import { completeUpstream, streamUpstream, type UpstreamCall } from "../router/upstream.ts";

export async function chatCompletions(c: Context<AppEnv>): Promise<Response> {
  const config = settings(c.env);
  const request = parseOr400(chatCompletionRequest, await readJsonBody(c, config.maxRequestBytes));
  if (request.n != null && request.n > 1) {
    throw new ApiError(400, "unsupported_value", "Only n=1 is supported: send one request per choice.", {
      param: "n",
    });
  }
  if (request.stream_options != null && request.stream !== true) {
    throw new ApiError(400, "invalid_value", "stream_options is only allowed when stream is true.", {
      param: "stream_options",
    });
  }

  const target = await resolveModel(c.env, c.get("principal").tenantId, request.model);
  // Said on every answer, errors included, so a failure names the provider that caused it.
  c.header("x-edgeclaw-model", target.publicName);
  c.header("x-edgeclaw-provider", target.provider.name);
  c.header("x-edgeclaw-upstream-model", target.upstreamModel);

  const call: UpstreamCall = {
    adapter: adapters[target.provider.kind],
    ctx: {
      request,
      target: {
        baseUrl: target.provider.baseUrl,
        model: target.upstreamModel,
        credential: providerCredential(c.env, target.provider.credentialRef),
      },
    },
    timeoutMs: target.provider.timeoutMs ?? config.upstreamTimeoutMs,
    requestId: c.get("requestId"),
    timing: c.get("timing"),
  };

  if (request.stream) {
    const events = await streamUpstream(call);
    return c.body(events, 200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
    });
  }
  return c.json(await completeUpstream(call));
}
