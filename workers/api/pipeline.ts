// The chat pipeline every model-call route shares: find the tenant's route, reserve limits and
// budget, try the response cache, run the route (fallbacks, retries, breakers), and hand back the
// answer as OpenAI chat JSON or an OpenAI chunk stream, with the x-edgeclaw-* headers set on the
// context; the reservation is settled with the real usage. /v1/chat/completions returns the
// outcome as it is; the Responses and Anthropic Messages ingresses translate a request to a chat
// request, run it here, and translate the outcome back, so all of them share one set of limits,
// budgets, routes, breakers and the cache. Text completions and embeddings run here too, as an
// `operation` with the chat view of their request (workers/router/operations/).
import type { Context } from "hono";
import type { ChatCompletionRequest, ChatCompletionResponse } from "../../schema/openai.ts";
import { priorities, type Priority } from "../../schema/route-config.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { callRoute, type Called, type StreamRecorder } from "../router/call.ts";
import type { Trail } from "../router/engine.ts";
import { requestFacts } from "../router/facts.ts";
import { keySettings, reserve, type Held } from "../router/limits.ts";
import { worstCase } from "../router/reservation.ts";
import { lead, leaderFor, lookup, planCache, recordMissCost, replay, store, type CachedAnswer, type CachePlan, type CacheStatus } from "../router/response-cache.ts";
import { droppedOnPath, enforceStrictParams } from "../router/params.ts";
import { routingFor } from "../router/routing.ts";
import { applyOperationFacts, assertModelKind, operationCache, type Operation, type OperationResponse } from "../router/operations/index.ts";
import { backgroundChild, endWhenSettled, sampledChild } from "../observability/trace.ts";
import { traceIdOf } from "../usage/event.ts";
import { streamReportedUsage, usageMeter, type UsageMeter } from "../usage/meter.ts";

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

// What the route answered: a chat.completion as JSON text, or a stream of chat.completion.chunk
// SSE events (ending in data: [DONE], or an error event when the upstream broke mid-way).
export type ChatOutcome = { kind: "json"; body: string } | { kind: "sse"; stream: ReadableStream<Uint8Array> };

export function waitUntilOf(c: Context<AppEnv>): (p: Promise<unknown>) => void {
  return (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      void p.catch(() => {});
    }
  };
}

export async function runChat(c: Context<AppEnv>, request: ChatCompletionRequest, operation?: Operation): Promise<ChatOutcome> {
  const principal = c.get("principal");
  const requestId = c.get("requestId");
  const headers = c.req.raw.headers;
  const waitUntil = waitUntilOf(c);

  const routing = await routingFor(c.env, principal.tenantId, waitUntil);
  const route = routing.routes.get(request.model);
  if (!route) {
    throw new ApiError(404, "model_not_found", `The model '${request.model}' does not exist or you do not have access to it.`, { param: "model" });
  }
  assertModelKind(route, operation);
  if (operation) enforceStrictParams(route, operation.request, operation.name);
  else enforceStrictParams(route, request);
  c.header("x-edgeclaw-model", route.name);
  c.header("x-edgeclaw-config-version", String(routing.version));
  // From here on the call is metered: one usage event however it ends (workers/usage/).
  const meter = usageMeter({
    env: c.env,
    waitUntil,
    tenantId: principal.tenantId,
    keyId: principal.keyId,
    agentId: null,
    channel: null,
    route: c.req.path,
    model: route.name,
    requestId,
    // The request's trace (workers/observability/: the client's traceparent, or one made here).
    traceId: c.get("trace")?.trace.traceId ?? traceIdOf(headers.get("traceparent")),
  });

  const key = keySettings(routing.config, principal.keyId);
  const priority = lowerPriority(key.priority, headers.get("x-edgeclaw-priority"));
  const facts = requestFacts(request, { tier: routing.config.tier ?? null, priority, headers });
  if (operation) applyOperationFacts(facts, operation);
  const maxTokens = facts.max_tokens ?? route.defaultMaxTokens;
  // The prompt estimate is rough: reserve generously (the rule every model call shares), settle exactly.
  const reserving = reserve(c.env, routing.config, { tenantId: principal.tenantId, keyId: principal.keyId }, worstCase(facts.prompt_tokens, maxTokens, route), waitUntil);
  // The cache is looked up while limits and budget are reserved (a hit still counts against
  // them, so it waits for the reservation, not after it).
  // Its span covers planning and the lookup (this isolate's copy, then the location's Cache API).
  const cacheSpan = sampledChild("gateway.cache", "internal");
  const looking = endWhenSettled(
    cacheSpan,
    (operation
      ? planCache(principal.tenantId, route.name, operation.request, operationCache(route, operation), headers, operation.name)
      : planCache(principal.tenantId, route.name, request, route.cache, headers)
    ).then(async (plan) => {
      const hit = plan.key && plan.lookup ? await lookup(plan.key, plan.shared) : null;
      cacheSpan?.set("edgeclaw.cache.status", hit ? "HIT" : plan.status).set("edgeclaw.cache.shared", plan.shared).set("edgeclaw.cache.ttl_s", plan.ttlS);
      return { plan, hit };
    }),
  );
  let held: Held;
  try {
    held = await reserving;
  } catch (err) {
    looking.catch(() => {});
    meter.failed(err);
    throw err;
  }

  let plan: CachePlan;
  try {
    const found = await looking;
    plan = found.plan;
    if (plan.key && plan.lookup) {
      // Stored by an identical request while this one was reserving: the isolate's copy has it.
      const hit = found.hit ?? (await lookup(plan.key, false));
      // An identical request already on its way upstream: wait for its answer instead.
      const shared = hit ? null : await leaderFor(plan.key);
      if (hit || shared) {
        waitUntil(held.settle(null, { input: 0, output: 0 }));
        const entry = (hit ?? shared) as CachedAnswer;
        // The same request went to this target: the same parameters were left out of it.
        const dropped = droppedOnPath(route, entry.served.path, request);
        if (dropped.length > 0) c.header("x-edgeclaw-dropped-params", dropped.join(","));
        const status: CacheStatus = hit ? "HIT" : "COALESCED";
        // Found after the span ended (the isolate's copy, or an identical request's answer):
        // attributes set now still reach the export, which waits for the whole request.
        cacheSpan?.set("edgeclaw.cache.status", status);
        // Nothing was spent upstream: no tokens, no cost (the reservation settles at zero too).
        meter.finish({
          status: 200,
          errorClass: null,
          usage: null,
          estimated: false,
          prices: null,
          cache: status,
          servedBy: { provider: entry.served.provider, upstreamModel: entry.served.upstreamModel, target: entry.served.path, replica: null },
        });
        return fromCache(c, entry, status);
      }
    }
  } catch (err) {
    waitUntil(held.settle(null, { input: 0, output: 0 }));
    meter.failed(err);
    throw err;
  }

  const leading = plan.key ? lead(plan.key) : null;
  const trail: Trail = { attempts: 0, reasons: [], last: null };
  meter.trail(trail);
  const started = Date.now();
  // What misses cost upstream, averaged per route, decides whether the location's Cache API
  // is worth it.
  const recordCost = () => {
    if (plan.key) recordMissCost(plan.scope, Date.now() - started);
  };
  let called: Called<ChatCompletionResponse | OperationResponse>;
  try {
    called = await callRoute(
      {
        env: c.env,
        tenantId: principal.tenantId,
        route,
        request,
        facts,
        priority,
        sessionKey: sessionKeyOf(principal.tenantId, headers.get("x-edgeclaw-session") ?? request.user ?? null),
        // Failures are attributed to the key, so one key cannot open the breaker others share.
        caller: principal.keyId,
        requestId,
        timing: c.get("timing"),
        waitUntil,
        operation,
      },
      trail,
      held,
      {
        onStreamEnd(completed, recorder) {
          meterStream(meter, trail, completed, recorder, plan.status);
          if (!leading || !plan.key) return;
          if (!completed) return leading.done(null);
          const entry = cached("sse", recorder.text());
          leading.done(entry);
          recordCost();
          waitUntil(storeTraced(c, plan, entry));
        },
      },
    );
  } catch (err) {
    leading?.done(null);
    describe(c, trail, plan.status);
    meter.failed(err, plan.status);
    throw err;
  }
  describe(c, trail, plan.status);

  const { served } = called;
  const cached = (kind: CachedAnswer["kind"], body: string): CachedAnswer => ({
    kind,
    body,
    served: { path: served.target.path, provider: served.target.provider?.name ?? "", upstreamModel: served.target.node.model },
    storedAt: Date.now(),
    expiresAt: Date.now() + plan.ttlS * 1000,
  });

  if (called.kind === "json") {
    const body = JSON.stringify(called.answer);
    meter.finish({
      status: 200,
      errorClass: null,
      usage: called.usage,
      // callRoute estimates from the prompt when the upstream's answer has no usage.
      estimated: !(called.answer as { usage?: unknown }).usage,
      prices: { input: served.target.inputPrice, output: served.target.outputPrice },
      cache: plan.status,
    });
    recordCost();
    if (leading && plan.key) {
      const entry = cached("json", body);
      leading.done(entry);
      waitUntil(storeTraced(c, plan, entry));
    }
    return { kind: "json", body };
  }
  // The stream's first bytes arrived before callRoute returned (a stream counts as answered then).
  meter.firstByte();
  return { kind: "sse", stream: called.stream };
}

// The cache write, under waitUntil: a background span of the request (it does not hold the
// answer or the log line; the trace's export waits for it).
function storeTraced(c: Context<AppEnv>, plan: CachePlan, entry: CachedAnswer): Promise<void> {
  const span = backgroundChild(c.get("trace"), "gateway.cache.store", "internal", { "edgeclaw.cache.bytes": entry.body.length, "edgeclaw.cache.ttl_s": plan.ttlS });
  return endWhenSettled(span, store(plan.key as string, entry, plan.scope));
}

// A relayed stream ended: its usage (the upstream's usage chunk, else counted from the content),
// and whether it ended cleanly. The status was 200 once the stream started.
// The served target is the trail's last one (a stream, once started, never moves on).
function meterStream(meter: UsageMeter, trail: Trail, completed: boolean, recorder: StreamRecorder, cache: CacheStatus): void {
  const failed = recorder.error();
  const target = trail.last?.target;
  meter.finish({
    status: 200,
    errorClass: failed !== null ? "upstream_stream_error" : completed ? null : "stream_incomplete",
    usage: recorder.usage(),
    estimated: !streamReportedUsage(recorder.text()),
    prices: target ? { input: target.inputPrice, output: target.outputPrice } : null,
    cache,
  });
}


// Which target served it, after how many attempts, why it fell back, and the cache's say.
function describe(c: Context<AppEnv>, trail: Trail, cache: CacheStatus): void {
  const last = trail.last;
  if (last) {
    c.header("x-edgeclaw-provider", last.target.provider?.name ?? "");
    c.header("x-edgeclaw-upstream-model", last.target.node.model);
    c.header("x-edgeclaw-target", last.target.path);
    if (last.replica) c.header("x-edgeclaw-replica", last.replica.id);
    if (last.dropped.length > 0) c.header("x-edgeclaw-dropped-params", last.dropped.join(","));
  }
  c.header("x-edgeclaw-attempts", String(trail.attempts));
  if (trail.reasons.length > 0) c.header("x-edgeclaw-fallback-reason", trail.reasons.join(", "));
  c.header("x-edgeclaw-cache-status", cache);
}

function fromCache(c: Context<AppEnv>, entry: CachedAnswer, status: CacheStatus): ChatOutcome {
  c.header("x-edgeclaw-provider", entry.served.provider);
  c.header("x-edgeclaw-upstream-model", entry.served.upstreamModel);
  c.header("x-edgeclaw-target", entry.served.path);
  c.header("x-edgeclaw-attempts", "0");
  c.header("x-edgeclaw-cache-status", status);
  c.header("age", String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000))));
  if (entry.kind === "json") return { kind: "json", body: entry.body };
  return { kind: "sse", stream: replay(entry.body) };
}

// A header may lower the key's priority class, never raise it.
function lowerPriority(own: Priority, asked: string | null): Priority {
  const i = priorities.indexOf(asked?.trim().toLowerCase() as Priority);
  return i !== -1 && i < priorities.indexOf(own) ? (priorities[i] as Priority) : own;
}

function sessionKeyOf(tenantId: string, session: string | null): string | null {
  return session ? `${tenantId}\n${session.slice(0, 256)}` : null;
}
