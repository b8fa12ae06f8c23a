// The one place agents reach models: a session turn (or a compaction) goes through the same
// router path as /v1/chat/completions (the tenant's routes, fallbacks, retries, breakers, tenant
// limits and budgets), streamed so WebChat can show tokens as they arrive. Everything else in
// workers/agents and the session Durable Object calls `callModel` only.
import { chatCompletionRequest, type ChatCompletionRequest } from "../../schema/openai.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { GatewayTiming } from "../http/timing.ts";
import { callRoute } from "../router/call.ts";
import type { Trail } from "../router/engine.ts";
import { requestFacts } from "../router/facts.ts";
import { reserve, type Usage } from "../router/limits.ts";
import { routingFor } from "../router/routing.ts";

export interface ModelMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ModelCall {
  tenantId: string;
  // Who is calling, for the limiter and budget keys (agent:<id>).
  agentId: string;
  model: string;
  messages: ModelMessage[];
  maxTokens: number;
  // Idempotency and trace id: the same turn retried carries the same id.
  requestId: string;
  // Session affinity for replica placement.
  sessionKey: string;
  onDelta?: (text: string) => void;
  waitUntil: (p: Promise<unknown>) => void;
}

export interface ModelReply {
  text: string;
  usage: Usage;
  target: string;
}

export async function callModel(env: Env, call: ModelCall): Promise<ModelReply> {
  const request: ChatCompletionRequest = chatCompletionRequest.parse({
    model: call.model,
    messages: call.messages,
    max_tokens: call.maxTokens,
    stream: true,
    stream_options: { include_usage: true },
  });
  const routing = await routingFor(env, call.tenantId, call.waitUntil);
  const route = routing.routes.get(call.model);
  if (!route) throw new ApiError(404, "model_not_found", `The agent's model '${call.model}' does not exist for this tenant.`);
  const headers = new Headers({ "x-request-id": call.requestId });
  const facts = requestFacts(request, { tier: routing.config.tier ?? null, priority: "normal", headers });
  const held = await reserve(
    env,
    routing.config,
    { tenantId: call.tenantId, keyId: `agent:${call.agentId}` },
    { tokens: facts.prompt_tokens + call.maxTokens, microUsd: facts.prompt_tokens * route.maxInputPrice + call.maxTokens * route.maxOutputPrice },
    call.waitUntil,
  );
  const trail: Trail = { attempts: 0, reasons: [], last: null };
  const called = await callRoute(
    {
      env,
      tenantId: call.tenantId,
      route,
      request,
      facts,
      priority: "normal",
      sessionKey: call.sessionKey,
      requestId: call.requestId,
      timing: new GatewayTiming(),
      waitUntil: call.waitUntil,
    },
    trail,
    held,
    { onDelta: call.onDelta },
  );
  const target = called.served.target.path;
  if (called.kind === "json") {
    const text = called.answer.choices[0]?.message?.content ?? "";
    const content = typeof text === "string" ? text : "";
    if (content) call.onDelta?.(content);
    return { text: content, usage: called.usage, target };
  }

  // Drain the relayed stream: the recorder (settling at its end) collects content and usage.
  const reader = called.stream.getReader();
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  const failed = called.recorder.error();
  if (failed !== null) throw new ApiError(502, "upstream_stream_error", failed);
  return { text: called.recorder.content(), usage: called.recorder.usage(), target };
}
