// Meters one model call: created when the call starts (so latency covers limits, cache and every
// upstream attempt), finished exactly once with the outcome, which sends the usage event
// (event.ts). /v1 routes (workers/api/pipeline.ts) and agent calls (workers/agents/model-call.ts)
// both use it, so every kind of call is metered the same way.
import type { Env } from "../env.ts";
import { afterResponse } from "../http/after-response.ts";
import { ApiError } from "../http/errors.ts";
import type { Trail } from "../router/engine.ts";
import type { Usage } from "../router/limits.ts";
import { costMicroUsd, sendUsage, type UsageEvent } from "./event.ts";

export interface MeterContext {
  env: Env;
  waitUntil: (p: Promise<unknown>) => void;
  tenantId: string;
  keyId: string | null;
  agentId: string | null;
  channel: string | null;
  // The /v1 path, or agent_turn, compaction, heartbeat.
  route: string;
  model: string;
  requestId: string;
  traceId: string | null;
}

// Which target served (or last tried) the call.
export interface ServedBy {
  provider: string | null;
  upstreamModel: string | null;
  target: string | null;
  replica: string | null;
}

export interface Outcome {
  status: number;
  errorClass: string | null;
  // Null: nothing reached an upstream (refused, cached, failed before any attempt): zero tokens.
  usage: Usage | null;
  estimated: boolean;
  prices: { input: number; output: number } | null;
  cache: string | null;
  servedBy?: ServedBy;
}

export type UsageMeter = ReturnType<typeof usageMeter>;

export function usageMeter(ctx: MeterContext, now: () => number = Date.now) {
  const started = now();
  let firstByteAt: number | null = null;
  let trail: Trail | null = null;
  let done = false;
  return {
    // The router's trail for this call: attempts, fallback reasons and the last target tried.
    trail(t: Trail): void {
      trail = t;
    },
    // The first bytes of a streamed answer arrived (TTFT).
    firstByte(): void {
      firstByteAt ??= now();
    },
    // The outcome's time is taken now; the event is built and sent after the answer left
    // (http/after-response.ts): nothing in it changes what the caller gets.
    finish(outcome: Outcome): void {
      if (done) return;
      done = true;
      const at = now();
      afterResponse(ctx.waitUntil, () => emit(outcome, at));
    },
    // A call that threw: its status and error code (an unexpected error is a 500 internal_error).
    failed(err: unknown, cache: string | null = null): void {
      const api = err instanceof ApiError ? err : null;
      this.finish({ status: api?.status ?? 500, errorClass: api?.code ?? "internal_error", usage: null, estimated: false, prices: null, cache });
    },
  };

  function emit(outcome: Outcome, at: number): void {
    const last = trail?.last ?? null;
    const servedBy: ServedBy = outcome.servedBy ?? {
      provider: last?.target.provider?.name ?? null,
      upstreamModel: last?.target.node.model ?? null,
      target: last?.target.path ?? null,
      replica: last?.replica?.id ?? null,
    };
    const input = outcome.usage ? Math.max(0, Math.round(outcome.usage.promptTokens)) : 0;
    const output = outcome.usage ? Math.max(0, Math.round(outcome.usage.completionTokens)) : 0;
    const event: UsageEvent = {
      v: 1,
      id: crypto.randomUUID(),
      at,
      tenant_id: ctx.tenantId,
      key_id: ctx.keyId,
      agent_id: ctx.agentId,
      channel: ctx.channel,
      route: ctx.route,
      model: ctx.model,
      provider: servedBy.provider,
      upstream_model: servedBy.upstreamModel,
      target: servedBy.target,
      replica: servedBy.replica,
      input_tokens: input,
      output_tokens: output,
      tokens_estimated: outcome.usage !== null && outcome.estimated,
      cost_micro_usd: outcome.prices ? costMicroUsd(input, output, outcome.prices) : 0,
      latency_ms: Math.max(0, Math.round(at - started)),
      ttft_ms: firstByteAt === null ? null : Math.max(0, Math.round(firstByteAt - started)),
      status: outcome.status,
      error_class: outcome.errorClass,
      cache: outcome.cache,
      attempts: trail?.attempts ?? 0,
      fallbacks: (trail?.reasons ?? []).slice(0, 100).map((r) => r.slice(0, 512)),
      request_id: ctx.requestId.slice(0, 256),
      trace_id: ctx.traceId,
    };
    sendUsage(ctx.env, ctx.waitUntil, event);
  }
}

// Whether a relayed stream carried the upstream's own usage (a chunk with usage.completion_tokens);
// when it did not, the recorder's counts are estimates. Only lines that mention usage are parsed.
export function streamReportedUsage(text: string): boolean {
  for (const line of text.split("\n")) {
    if (!line.startsWith("data: {") || !line.includes('"usage"')) continue;
    try {
      const payload = JSON.parse(line.slice(6)) as { usage?: { completion_tokens?: unknown } | null };
      if (typeof payload.usage?.completion_tokens === "number") return true;
    } catch {
      // not JSON: the recorder skipped it too
    }
  }
  return false;
}
