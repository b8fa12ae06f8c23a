// The one place agents reach models: a session turn (or a compaction) goes through the same
// router path as /v1/chat/completions (the tenant's routes, fallbacks, retries, breakers, tenant
// limits and budgets), streamed so WebChat can show tokens as they arrive. Everything else in
// workers/agents and the session Durable Object calls `callModel` only.
import { chatCompletionRequest, type ChatCompletionRequest } from "../../schema/openai.ts";
import { settings, type Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { GatewayTiming } from "../http/timing.ts";
import { runRoute, type Trail } from "../router/engine.ts";
import { requestFacts } from "../router/facts.ts";
import { reserve, type Usage } from "../router/limits.ts";
import { adapters } from "../router/providers/index.ts";
import { routingFor, type ProviderInfo } from "../router/routing.ts";
import { parseEvent, relaySse, splitEvents } from "../router/sse.ts";

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
  let served;
  try {
    served = await runRoute(
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
    );
  } catch (err) {
    call.waitUntil(held.settle(null, { input: 0, output: 0 }));
    throw err;
  }
  const prices = { input: served.target.inputPrice, output: served.target.outputPrice };
  const target = served.target.path;
  if (served.answer.kind === "json") {
    const { answer } = served.answer;
    const text = answer.choices[0]?.message?.content ?? "";
    const content = typeof text === "string" ? text : "";
    const usage = { promptTokens: answer.usage?.prompt_tokens ?? facts.prompt_tokens, completionTokens: answer.usage?.completion_tokens ?? 0 };
    served.finish(usage.completionTokens);
    call.waitUntil(held.settle(usage, prices));
    if (content) call.onDelta?.(content);
    return { text: content, usage, target };
  }

  // runRoute only serves targets that have a provider (a revoked one is skipped as unavailable).
  const provider = served.target.provider as ProviderInfo;
  const body = relaySse(served.answer.primed, {
    transform: adapters[provider.kind].toStreamChunks,
    idleTimeoutMs: provider.timeoutMs ?? settings(env).upstreamTimeoutMs,
  });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let text = "";
  let usage: Usage | null = null;
  let failed: string | null = null;
  const take = (data: string) => {
    if (data === "[DONE]") return;
    const payload = JSON.parse(data) as {
      error?: { message?: string };
      usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
      choices?: { delta?: { content?: string | null } }[];
    };
    if (payload.error) failed = payload.error.message ?? "upstream stream error";
    if (payload.usage?.completion_tokens !== undefined) {
      usage = { promptTokens: payload.usage.prompt_tokens ?? facts.prompt_tokens, completionTokens: payload.usage.completion_tokens };
    }
    const delta = payload.choices?.[0]?.delta?.content;
    if (delta) {
      text += delta;
      call.onDelta?.(delta);
    }
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const { events, rest } = splitEvents(buffer);
      buffer = rest;
      for (const ev of events) if (ev.data !== undefined) take(ev.data);
    }
    if (buffer.trim()) {
      const last = parseEvent(buffer.trim());
      if (last.data !== undefined) take(last.data);
    }
  } finally {
    const final: Usage = usage ?? { promptTokens: facts.prompt_tokens, completionTokens: Math.ceil(text.length / 4) };
    served.finish(final.completionTokens);
    call.waitUntil(held.settle(final, prices));
  }
  if (failed !== null) throw new ApiError(502, "upstream_stream_error", failed);
  return { text, usage: usage ?? { promptTokens: facts.prompt_tokens, completionTokens: Math.ceil(text.length / 4) }, target };
}
