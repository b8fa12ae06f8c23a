// The one place agents reach models: a session turn (or a compaction) goes through the same
// router path as /v1/chat/completions (the tenant's routes, fallbacks, retries, breakers, tenant
// limits and budgets), streamed so WebChat can show tokens as they arrive. Everything else in
// workers/agents and the session Durable Object calls `callModel` only.
import { assertModelKind } from "../router/operations/index.ts";
import { chatCompletionRequest, type ChatCompletionRequest } from "../../schema/openai.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { GatewayTiming } from "../http/timing.ts";
import { callRoute } from "../router/call.ts";
import type { Trail } from "../router/engine.ts";
import { requestFacts } from "../router/facts.ts";
import { reserve, type Usage } from "../router/limits.ts";
import { worstCase } from "../router/reservation.ts";
import { routingFor, type CompiledRoute } from "../router/routing.ts";
import { requireTenantLive } from "../tenants/liveness.ts";
import { tracedRoot } from "../observability/otlp.ts";
import { channelOfSessionKey } from "./config.ts";
import { activeSpan } from "../observability/trace.ts";
import { streamReportedUsage, usageMeter, type UsageMeter } from "../usage/meter.ts";

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
  // A hard end for the whole call (epoch ms), whatever the tenant's provider timeout and retry
  // budget say: the scheduler's action deadline. The route's time budget shrinks to it (every
  // attempt's first-byte wait is bounded by it) and a stream still open then is cut.
  deadlineAt?: number;
  // What the usage event calls this model call (workers/usage/): "agent_turn" unless said.
  // (Reminders send a fixed text and make no model call.)
  usageRoute?: "agent_turn" | "compaction" | "heartbeat";
  // The channel of the session the call is for (usage events and spans). When absent it is read
  // from sessionKey (tenant/agent/channel/...), so every agent call carries it: a heartbeat's
  // session key names its channel too. Null only when the key names no known channel.
  channel?: string | null;
}

export interface ModelReply {
  text: string;
  usage: Usage;
  target: string;
}

// Traced: an `agent.model_call` span under the active one (a session turn's), or the root of a
// trace of its own when there is none (a heartbeat, a compaction), exported like a request's.
export function callModel(env: Env, given: ModelCall): Promise<ModelReply> {
  const call = given.channel === undefined ? { ...given, channel: channelOfSessionKey(given.sessionKey) } : given;
  const route = call.usageRoute ?? "agent_turn";
  const attributes = {
    "edgeclaw.tenant_id": call.tenantId,
    "edgeclaw.agent_id": call.agentId,
    "edgeclaw.model": call.model,
    "edgeclaw.usage_route": route,
    "edgeclaw.request_id": call.requestId,
    ...(call.channel ? { "edgeclaw.channel": call.channel } : {}),
  };
  return tracedRoot(env, call.waitUntil, "agent.model_call", "internal", attributes, async (span) => {
    const reply = await callTraced(env, call);
    span?.set("edgeclaw.target", reply.target).set("gen_ai.usage.input_tokens", reply.usage.promptTokens).set("gen_ai.usage.output_tokens", reply.usage.completionTokens);
    return reply;
  });
}

async function callTraced(env: Env, call: ModelCall): Promise<ModelReply> {
  // The last line behind the session's own checks: no model call for a revoked or unknown tenant.
  await requireTenantLive(env, call.tenantId);
  const request: ChatCompletionRequest = chatCompletionRequest.parse({
    model: call.model,
    messages: call.messages,
    max_tokens: call.maxTokens,
    stream: true,
    stream_options: { include_usage: true },
  });
  const routing = await routingFor(env, call.tenantId, call.waitUntil);
  const found = routing.routes.get(call.model);
  if (!found) throw new ApiError(404, "model_not_found", `The agent's model '${call.model}' does not exist for this tenant.`);
  // An agent talks to a chat model: an embedding model is refused before anything is reserved.
  assertModelKind(found, undefined);
  // From here on the call is metered: one usage event however it ends (workers/usage/).
  const meter = usageMeter({
    env,
    waitUntil: call.waitUntil,
    tenantId: call.tenantId,
    keyId: null,
    agentId: call.agentId,
    channel: call.channel ?? null,
    route: call.usageRoute ?? "agent_turn",
    model: found.name,
    requestId: call.requestId,
    // The trace this call runs in, if any (a scheduled run or a session turn may have none).
    traceId: activeSpan()?.trace.traceId ?? null,
  });
  try {
    return await metered(env, call, request, found, routing, meter);
  } catch (err) {
    meter.failed(err);
    throw err;
  }
}

// The call itself, after the route was found: reserve, run the route, read the answer.
async function metered(env: Env, call: ModelCall, request: ChatCompletionRequest, found: CompiledRoute, routing: Awaited<ReturnType<typeof routingFor>>, meter: UsageMeter): Promise<ModelReply> {
  const route = call.deadlineAt === undefined ? found : { ...found, retry: { ...found.retry, budget_ms: Math.max(1, Math.min(found.retry.budget_ms, call.deadlineAt - Date.now())) } };
  const headers = new Headers({ "x-request-id": call.requestId });
  const facts = requestFacts(request, { tier: routing.config.tier ?? null, priority: "normal", headers });
  // The same reservation rule as /v1 (reservation.ts: the prompt estimate with its margin + the
  // whole reply the agent may write); callRoute settles it with the upstream's real usage.
  const held = await reserve(env, routing.config, { tenantId: call.tenantId, keyId: `agent:${call.agentId}` }, worstCase(facts.prompt_tokens, call.maxTokens, route), call.waitUntil);
  const trail: Trail = { attempts: 0, reasons: [], last: null };
  meter.trail(trail);
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
      // An agent's failures open its own breaker first, like an API key's (state/breaker.ts).
      caller: `agent:${call.agentId}`,
      timing: new GatewayTiming(),
      waitUntil: call.waitUntil,
    },
    trail,
    held,
    { onDelta: call.onDelta },
  );
  const target = called.served.target.path;
  const prices = { input: called.served.target.inputPrice, output: called.served.target.outputPrice };
  if (called.kind === "json") {
    const text = called.answer.choices[0]?.message?.content ?? "";
    const content = typeof text === "string" ? text : "";
    meter.finish({ status: 200, errorClass: null, usage: called.usage, estimated: !called.answer.usage, prices, cache: null });
    if (content) call.onDelta?.(content);
    return { text: content, usage: called.usage, target };
  }
  meter.firstByte();

  // Drain the relayed stream: the recorder (settling at its end) collects content and usage.
  const reader = called.stream.getReader();
  let cut = false;
  const timer = call.deadlineAt === undefined ? undefined : setTimeout(() => {
    cut = true;
    reader.cancel().catch(() => {});
  }, Math.max(0, call.deadlineAt - Date.now()));
  try {
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  } finally {
    clearTimeout(timer);
    // What the stream used so far was spent (the reservation settled with it too), even when it
    // was cut or broke: the event carries it with the error.
    const broke = cut ? "deadline_exceeded" : called.recorder.error() !== null ? "upstream_stream_error" : null;
    meter.finish({
      status: cut ? 504 : broke ? 502 : 200,
      errorClass: broke,
      usage: called.recorder.usage(),
      estimated: !streamReportedUsage(called.recorder.text()),
      prices,
      cache: null,
    });
  }
  if (cut) throw new ApiError(504, "deadline_exceeded", "The model call did not finish before the caller's deadline.");
  const failed = called.recorder.error();
  if (failed !== null) throw new ApiError(502, "upstream_stream_error", failed);
  return { text: called.recorder.content(), usage: called.recorder.usage(), target };
}
