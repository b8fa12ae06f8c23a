// Runs one request through a route's tree until a target answers:
//   target       breaker check, priority admission, then up to retry.attempts tries for
//                retryable classes (429, 5xx, timeout, connection) with exponential backoff
//                and full jitter, at least the upstream's Retry-After (a longer one is not
//                waited for: the next target is), all inside the route's time budget
//   weighted     children in a random order drawn by QoS-adjusted weights
//   fallback     children in the configured order
//   (both move to the next child on the error classes in `on`, and always past a child that
//   is unavailable: breaker open, saturated, provider revoked)
//   conditional  the first rule whose condition holds, else the default
// A stream counts as answered once its first bytes arrived; after that it is the client's and
// is never switched to another target (a later break ends it with an error event).
// Operations other than chat (text completions, embeddings: operations/) take the same path; a
// target whose provider kind cannot serve the operation (or this request of it) is unavailable
// for it, and when no target can, the client gets the 400 that says why.
import type { ChatCompletionRequest, ChatCompletionResponse } from "../../schema/openai.ts";
import type { ErrorClass, Priority } from "../../schema/route-config.ts";
import { settings, type Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import type { GatewayTiming } from "../http/timing.ts";
import { breakerKey, breakers } from "./breakers.ts";
import { providerCredential } from "./credentials.ts";
import { matches, type RequestFacts } from "./facts.ts";
import { declaredBy, refusedUrl } from "./outbound.ts";
import { paramsDroppedBy, unsupportedParams } from "./params.ts";
import { bindOperation, isRefusal, type BoundOperation, type Operation, type OperationResponse } from "./operations/index.ts";
import { adapters } from "./providers/index.ts";
import { effectiveWeights, inflight, recordFailure, recordSuccess, release, tryAcquire, weightedOrder } from "./qos.ts";
import { pickReplica, pollIfDue, recordQueueHeader, reportedQueue, type Replica } from "./replicas.ts";
import type { CompiledNode, CompiledRoute, CompiledTarget } from "./routing.ts";
import type { PrimedStream } from "./sse.ts";
import { completeUpstream, openStream, UpstreamError, type UpstreamCall } from "./upstream.ts";

export interface RunContext {
  env: Env;
  tenantId: string;
  route: CompiledRoute;
  request: ChatCompletionRequest;
  facts: RequestFacts;
  priority: Priority;
  sessionKey: string | null;
  // Who is calling (the API key id): failures are attributed to it, so one caller's failing
  // requests open its own breaker, not the one every caller shares (state/breaker.ts). Absent:
  // failures count unattributed, in full.
  caller?: string;
  requestId: string;
  timing: GatewayTiming;
  waitUntil: (p: Promise<unknown>) => void;
  // Another operation than chat; `request` is then its chat view (what facts and the
  // translations to chat read).
  operation?: Operation;
}

// What happened on the way, for the response headers (errors included).
export interface Trail {
  attempts: number;
  reasons: string[];
  // dropped: the request's parameters the target's adapter left out (x-edgeclaw-dropped-params).
  last: { target: CompiledTarget; replica: Replica | null; dropped: string[] } | null;
}

// An operation's JSON answer is that operation's response object (OperationResponse).
export type Answer = { kind: "json"; answer: ChatCompletionResponse | OperationResponse; headers: Headers } | { kind: "sse"; primed: PrimedStream; headers: Headers };

export interface Served {
  answer: Answer;
  target: CompiledTarget;
  replica: Replica | null;
  // The operation's adapter that made the call (null for chat): its stream transform applies.
  op: BoundOperation | null;
  // Call when the answer is complete (a stream: at its end): books QoS and frees the slot.
  finish(completionTokens: number): void;
}

type FailureClass = ErrorClass | "unavailable" | null;

class RouteFailure extends Error {
  readonly errorClass: FailureClass;
  readonly error: ApiError;
  // The target cannot serve this operation or request at all (not a passing condition).
  readonly unsupported: boolean;

  constructor(errorClass: FailureClass, error: ApiError, unsupported = false) {
    super(error.message);
    this.errorClass = errorClass;
    this.error = error;
    this.unsupported = unsupported;
  }
}

// Classes that say something about the target's health: they count for its breaker and QoS,
// and are worth a retry.
const HEALTH: ReadonlySet<FailureClass> = new Set<FailureClass>(["rate_limited", "server_error", "timeout", "connection"]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runRoute(run: RunContext, trail: Trail): Promise<Served> {
  const deadline = Date.now() + run.route.retry.budget_ms;
  try {
    return await execNode(run.route.root, run, trail, deadline);
  } catch (err) {
    if (!(err instanceof RouteFailure)) throw err;
    throw err.error;
  }
}

async function execNode(node: CompiledNode, run: RunContext, trail: Trail, deadline: number): Promise<Served> {
  if (node.kind === "target") return execTarget(node, run, trail, deadline);
  if (node.kind === "conditional") {
    const rule = node.rules.find((r) => matches(r.when, run.facts));
    return execNode(rule ? rule.node : node.otherwise, run, trail, deadline);
  }
  const order = node.kind === "fallback" ? node.children : weightedOrder(node.children, effectiveWeights(run.tenantId, node.children));
  let worst: RouteFailure | undefined;
  for (const child of order) {
    try {
      return await execNode(child, run, trail, deadline);
    } catch (err) {
      if (!(err instanceof RouteFailure)) throw err;
      // The error the client sees is the last real failure, not "unavailable"; and a target
      // that is down now says more than one that cannot serve the request at all.
      if (!worst || err.errorClass !== "unavailable" || worst.unsupported) worst = err;
      const fallOver = err.errorClass === "unavailable" || (err.errorClass !== null && node.on.has(err.errorClass));
      if (!fallOver || Date.now() >= deadline) throw worst;
    }
  }
  throw worst as RouteFailure;
}

function unavailable(what: string, retryAfterS?: number): RouteFailure {
  return new RouteFailure(
    "unavailable",
    new ApiError(503, "no_available_target", `No target can take this request now: ${what}.`, {
      headers: retryAfterS ? { "retry-after": String(retryAfterS) } : {},
      type: "upstream_error",
    }),
  );
}

function backoffMs(attempt: number, base: number, max: number): number {
  return Math.random() * Math.min(max, base * 2 ** attempt);
}

async function execTarget(target: CompiledTarget, run: RunContext, trail: Trail, deadline: number): Promise<Served> {
  const { route, facts } = run;
  const provider = target.provider;
  if (!provider) {
    trail.reasons.push(`${target.path}:provider_revoked`);
    throw unavailable(`the provider of ${target.path} is revoked`);
  }
  let op: BoundOperation | null = null;
  if (run.operation) {
    const bound = bindOperation(provider.kind, run.operation);
    if (isRefusal(bound)) {
      trail.reasons.push(`${target.path}:${bound.code}`);
      throw new RouteFailure(
        "unavailable",
        new ApiError(400, bound.code, `The model '${route.name}' cannot serve this request: its target ${target.path} (${provider.kind}) ${bound.message}.`, { param: bound.param ?? null }),
        true,
      );
    }
    op = bound;
  }
  if (target.contextWindow !== null && facts.prompt_tokens + (facts.max_tokens ?? 0) > target.contextWindow) {
    trail.reasons.push(`${target.path}:context_length`);
    throw new RouteFailure(
      "context_length",
      new ApiError(400, "context_length_exceeded", `The request (about ${facts.prompt_tokens} prompt tokens plus max_tokens) does not fit ${target.path}'s context window of ${target.contextWindow} tokens.`, { param: "messages" }),
    );
  }
  const dropped = paramsDroppedBy(adapters[provider.kind], target, run.request);
  if (dropped.length > 0 && !route.dropParams) {
    trail.reasons.push(`${target.path}:unsupported_parameter`);
    throw new RouteFailure("unavailable", unsupportedParams(target, provider.kind, dropped));
  }
  if (target.replicas?.length === 0) {
    trail.reasons.push(`${target.path}:replica_not_declared`);
    throw unavailable(`the replicas ${target.path} names are not declared by its provider`);
  }
  const credential = await providerCredential(run.env, run.tenantId, provider.credentialRef);
  const client = breakers(run.env);
  const defaults = settings(run.env);
  const base = breakerKey(run.tenantId, route.name, target.path);
  const excluded = new Set<string>();
  // A retry refused by the breaker (it opened meanwhile) reports the failure that opened it.
  let lastFailure: RouteFailure | undefined;
  for (let attempt = 0; ; attempt++) {
    let replica: Replica | null = null;
    let key = base;
    if (target.replicas) {
      const slot = (r: Replica) => breakerKey(run.tenantId, route.name, target.path, r.id);
      let healthy = target.replicas.filter((r) => !client.knownOpen(slot(r)) && !excluded.has(r.id));
      if (healthy.length === 0) healthy = target.replicas.filter((r) => !client.knownOpen(slot(r)));
      replica = pickReplica(target.replicas, healthy, run.sessionKey, (r) => reportedQueue(slot(r)) + inflight(slot(r))) ?? null;
      if (!replica) {
        trail.reasons.push(`${target.path}:breaker_open`);
        throw unavailable(`every replica of ${target.path} has an open breaker`, Math.ceil(route.breaker.open_ms / 1000));
      }
      key = slot(replica);
      // Only an OpenAI-compatible server takes the credential as a bearer (the gpu-backend, vLLM).
      pollIfDue(run.env, key, replica, run.waitUntil, provider.kind === "openai-compatible" ? credential : undefined);
    }
    const label = replica ? `${target.path}@${replica.id}` : target.path;
    const url = replica?.baseUrl ?? provider.baseUrl;
    // Point of use: the URL is re-checked against the outbound policy and against what the
    // provider row declares before anything (the credential above all) is sent.
    if (!(op ?? adapters[provider.kind]).send) {
      const refused = !declaredBy(provider, url) ? "it is not declared by the provider" : refusedUrl(run.env, url);
      if (refused !== null) {
        trail.reasons.push(`${label}:url_not_allowed`);
        throw new RouteFailure(
          "unavailable",
          new ApiError(502, "upstream_url_not_allowed", `The upstream URL of ${label} is refused by the outbound-URL policy: ${refused}.`, { type: "upstream_error" }),
        );
      }
    }
    if (!tryAcquire(key, target.node.max_concurrency, run.priority, replica ? reportedQueue(key) : 0)) {
      trail.reasons.push(`${label}:saturated`);
      throw unavailable(`${label} is saturated for ${run.priority}-priority traffic`, 1);
    }
    const admission = await client.admit(key, route.breaker, run.waitUntil, run.caller);
    if (!admission.allowed) {
      release(key);
      trail.reasons.push(`${label}:${admission.callerRefused ? "caller_breaker_open" : "breaker_open"}`);
      if (replica && excluded.size + 1 < target.replicas!.length) {
        excluded.add(replica.id);
        continue;
      }
      throw (
        lastFailure ??
        unavailable(
          admission.callerRefused ? `this caller's recent requests to ${label} kept failing; it is paused for this caller` : `the circuit breaker of ${label} is open`,
          Math.ceil(route.breaker.open_ms / 1000),
        )
      );
    }
    trail.attempts++;
    trail.last = { target, replica, dropped };
    const idleMs = provider.timeoutMs ?? defaults.upstreamTimeoutMs;
    const firstByteMs = Math.max(1, Math.min(target.node.first_byte_timeout_ms ?? route.firstByteMs ?? idleMs, deadline - Date.now()));
    const call: UpstreamCall = {
      adapter: adapters[provider.kind],
      op,
      ctx: {
        request: run.request,
        target: { baseUrl: url, model: target.node.model, credential },
      },
      env: run.env,
      firstByteMs,
      idleMs,
      requestId: run.requestId,
      timing: run.timing,
      maxResponseBytes: defaults.upstreamMaxResponseBytes,
      maxEventBytes: defaults.upstreamMaxEventBytes,
    };
    const started = Date.now();
    try {
      const answer: Answer = run.request.stream
        ? { kind: "sse", ...(await openStream(call)) }
        : { kind: "json", ...(await completeUpstream(call)) };
      const ttft = Date.now() - started;
      recordQueueHeader(key, answer.headers);
      const flush = client.report(key, route.breaker, true, admission.probe, run.caller);
      if (flush) run.waitUntil(flush);
      let finished = false;
      return {
        answer,
        target,
        replica,
        op,
        finish(completionTokens) {
          if (finished) return;
          finished = true;
          release(key);
          recordSuccess(run.tenantId, target.path, ttft, Date.now() - started, completionTokens);
        },
      };
    } catch (err) {
      release(key);
      if (!(err instanceof UpstreamError)) throw err;
      const health = HEALTH.has(err.errorClass);
      const flush = client.report(key, route.breaker, !health, admission.probe, run.caller);
      if (flush) run.waitUntil(flush);
      if (health) recordFailure(run.tenantId, target.path);
      trail.reasons.push(`${label}:${err.errorClass ?? err.code}`);
      const failure = new RouteFailure(err.errorClass, err);
      lastFailure = failure;
      if (!health || attempt + 1 >= route.retry.attempts) throw failure;
      let wait = backoffMs(attempt, route.retry.base_ms, route.retry.max_ms);
      if (err.retryAfterMs !== null) {
        if (err.retryAfterMs > route.retry.max_ms) throw failure;
        wait = Math.max(wait, err.retryAfterMs);
      }
      if (Date.now() + wait >= deadline) throw failure;
      if (replica) excluded.add(replica.id);
      await sleep(wait);
    }
  }
}
