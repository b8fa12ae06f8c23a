// One chat request through the router for a tenant, after the caller has reserved its limits and
// budget: run the route (fallbacks, retries, breakers), then settle the reservation exactly once
// with the real usage, for a JSON answer at once, for a stream when it ends (usage is read from
// the relayed stream by one recorder). /v1/chat/completions and the agents' callModel both use it,
// and so do the other operations (RunContext.operation: text completions, embeddings).
import { settings } from "../env.ts";
import type { ChatCompletionResponse } from "../../schema/openai.ts";
import { runRoute, type RunContext, type Served, type Trail } from "./engine.ts";
import type { OperationResponse } from "./operations/index.ts";
import type { Held, Usage } from "./limits.ts";
import { adapters } from "./providers/index.ts";
import type { ProviderInfo } from "./routing.ts";
import { relaySse } from "./sse.ts";
import { activeSpan, startChild, withSpan, type Trace } from "../observability/trace.ts";

export type StreamRecorder = ReturnType<typeof streamRecorder>;

// A chat run's JSON answer is a chat completion; an operation's is that operation's response.
export type Called<A = ChatCompletionResponse> =
  | { kind: "json"; served: Served; answer: A; usage: Usage }
  | { kind: "sse"; served: Served; stream: ReadableStream<Uint8Array>; recorder: StreamRecorder };

export interface CallHooks {
  // Each piece of streamed content, as it is relayed.
  onDelta?: (text: string) => void;
  // The stream ended (cleanly or not), after the reservation was settled.
  onStreamEnd?: (completed: boolean, recorder: StreamRecorder) => void;
}

export function callRoute(run: RunContext & { operation?: undefined }, trail: Trail, held: Held, hooks?: CallHooks): Promise<Called>;
export function callRoute(run: RunContext, trail: Trail, held: Held, hooks?: CallHooks): Promise<Called<ChatCompletionResponse | OperationResponse>>;
export async function callRoute(run: RunContext, trail: Trail, held: Held, hooks: CallHooks = {}): Promise<Called<ChatCompletionResponse | OperationResponse>> {
  let served: Served;
  try {
    // One span for the route (its attempts are child spans, opened in upstream.ts).
    served = await withSpan("gateway.route", "internal", { "edgeclaw.model": run.route.name, "edgeclaw.stream": run.request.stream === true }, async (span) => {
      try {
        const done = await runRoute(run, trail);
        span?.set("edgeclaw.target", done.target.path).set("edgeclaw.replica", done.replica?.id);
        return done;
      } finally {
        span?.set("edgeclaw.attempts", trail.attempts).set("edgeclaw.fallback_reasons", trail.reasons.join(", ") || null);
      }
    });
  } catch (err) {
    run.waitUntil(held.settle(null, { input: 0, output: 0 }));
    throw err;
  }
  const prices = { input: served.target.inputPrice, output: served.target.outputPrice };
  if (served.answer.kind === "json") {
    const { answer } = served.answer;
    const usage: Usage = answer.usage
      ? { promptTokens: answer.usage.prompt_tokens, completionTokens: answer.usage.completion_tokens ?? 0 }
      : { promptTokens: run.facts.prompt_tokens, completionTokens: 0 };
    served.finish(usage.completionTokens);
    run.waitUntil(held.settle(usage, prices));
    const trace = activeSpan()?.trace;
    if (trace) noteTokens(trace, usage);
    return { kind: "json", served, answer, usage };
  }

  const recorder = streamRecorder(run.facts.prompt_tokens, hooks.onDelta);
  const limits = settings(run.env);
  // From the first relayed byte to the stream's end (clean, broken or cancelled by the client);
  // the request's trace and log line wait for it.
  const relay = startChild("gateway.stream_relay", "internal", { "edgeclaw.target": served.target.path });
  const stream = relaySse(served.answer.primed, {
    // runRoute only serves targets that have a provider (a revoked one is skipped as unavailable).
    transform: served.op ? served.op.toStreamChunks : adapters[(served.target.provider as ProviderInfo).kind].toStreamChunks,
    idleTimeoutMs: served.target.provider?.timeoutMs ?? limits.upstreamTimeoutMs,
    // Bounds what is buffered (one event) and what the recorder collects (the whole stream).
    maxEventBytes: limits.upstreamMaxEventBytes,
    maxTotalBytes: limits.upstreamMaxResponseBytes,
    tap: {
      chunk: recorder.chunk,
      end(completed) {
        const usage = recorder.usage();
        served.finish(usage.completionTokens);
        run.waitUntil(held.settle(usage, prices));
        if (relay) {
          noteTokens(relay.trace, usage);
          relay.trace.stream = completed ? "completed" : "broken";
          relay.set("edgeclaw.stream.completed", completed).set("gen_ai.usage.output_tokens", usage.completionTokens);
          // Fixed texts: the error event's message may quote the upstream.
          if (!completed) relay.fail(recorder.error() !== null ? "upstream_stream_error" : "stream_cancelled");
          relay.end();
        }
        hooks.onStreamEnd?.(completed, recorder);
      },
    },
  });
  return { kind: "sse", served, stream, recorder };
}

// Collects what a stream sent (for the cache), its content, its usage (from the usage chunk, or
// counted from the content when the upstream sent none) and the message of an error event.
export function streamRecorder(promptTokens: number, onDelta?: (text: string) => void) {
  const parts: string[] = [];
  let content = "";
  let reported: Usage | null = null;
  let failed: string | null = null;
  return {
    chunk(text: string) {
      parts.push(text);
      for (const line of text.split("\n")) {
        if (!line.startsWith("data: {")) continue;
        let payload: {
          error?: { message?: string };
          usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
          // delta.content in chat chunks, text in text_completion chunks.
          choices?: { delta?: { content?: string | null }; text?: string }[];
        };
        try {
          payload = JSON.parse(line.slice(6));
        } catch {
          continue; // not JSON: nothing to count
        }
        if (payload.error) failed = payload.error.message ?? "upstream stream error";
        if (payload.usage?.completion_tokens !== undefined) {
          reported = { promptTokens: payload.usage.prompt_tokens ?? promptTokens, completionTokens: payload.usage.completion_tokens };
        }
        const choice = payload.choices?.[0];
        const delta = choice?.delta?.content ?? choice?.text;
        if (delta) {
          content += delta;
          onDelta?.(delta);
        }
      }
    },
    usage: (): Usage => reported ?? { promptTokens, completionTokens: Math.ceil(content.length / 4) },
    text: () => parts.join(""),
    content: () => content,
    error: () => failed,
  };
}

// The request's token counts for its log line (the last model call's, when a request makes more).
function noteTokens(trace: Trace, usage: Usage): void {
  trace.tokens = { input: usage.promptTokens, output: usage.completionTokens };
}
