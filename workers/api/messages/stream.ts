// A chat.completion.chunk SSE stream (what the shared pipeline relays, from any upstream or the
// cache) as Anthropic's Messages event stream, in Anthropic's order:
//   message_start, then per content block content_block_start, content_block_delta
//   (thinking_delta / signature_delta, text_delta, input_json_delta), content_block_stop (a
//   ping follows the first block's start, and every keep-alive comment becomes a ping), then
//   message_delta (stop_reason, stop_sequence, usage) and message_stop.
// An error event from the pipeline (the upstream broke or stalled mid-stream) becomes Anthropic's
// `event: error`, and the stream ends there; so does a stream that ends without finishing.
import { hasComment, SseSplitter, type SseEvent } from "../../router/sse.ts";
import { messageId, stopReason, thinkingBlockShape, type StopReason } from "./from-chat.ts";

export interface StreamOptions {
  model: string;
  // What message_start reports before the upstream's count arrives (with message_delta).
  inputTokensEstimate: number;
  stopSequences?: readonly string[];
  // Reasoning text from OpenAI-compatible upstreams becomes thinking blocks only when asked for.
  wantThinking: boolean;
}

const ANTHROPIC_STREAM_ERRORS = new Set(["api_error", "overloaded_error", "rate_limit_error", "invalid_request_error"]);

// The pipeline's relay bounds each event; this bounds what a stream without event boundaries
// could make the translator hold.
const MAX_PENDING_CHARS = 16 * 1024 * 1024;

type Chunk = {
  id?: string;
  error?: { message?: string; code?: string; type?: string };
  usage?: { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } } | null;
  choices?: {
    delta?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      thinking_blocks?: unknown[];
      tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[];
    };
    finish_reason?: string | null;
    stop_reason?: unknown;
  }[];
};

export function chatStreamToMessages(source: ReadableStream<Uint8Array>, options: StreamOptions): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const splitter = new SseSplitter();
  let started = false;
  let pinged = false;
  let ended = false;
  let nextIndex = 0;
  let open: { index: number; kind: "text" | "thinking" | "tool"; signed?: boolean } | null = null;
  const tools = new Map<number, number>(); // chat tool call index -> content block index
  let finish: string | null | undefined;
  let matched: unknown;
  let usage: Chunk["usage"] = null;
  let out: string[] = [];

  const event = (type: string, data: Record<string, unknown>) => out.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);

  const start = (id: string | undefined) => {
    if (started) return;
    started = true;
    event("message_start", {
      message: {
        id: messageId(id),
        type: "message",
        role: "assistant",
        model: options.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: options.inputTokensEstimate, output_tokens: 0, cache_creation_input_tokens: null, cache_read_input_tokens: null },
      },
    });
  };
  const close = () => {
    if (!open) return;
    event("content_block_stop", { index: open.index });
    open = null;
  };
  const begin = (kind: "text" | "thinking" | "tool", block: Record<string, unknown>) => {
    close();
    open = { index: nextIndex++, kind };
    event("content_block_start", { index: open.index, content_block: block });
    if (!pinged) {
      pinged = true;
      event("ping", {});
    }
    return open.index;
  };
  const thinking = (text: string | undefined, signature: string | undefined) => {
    if (!open || open.kind !== "thinking" || open.signed) begin("thinking", { type: "thinking", thinking: "", signature: "" });
    const index = (open as { index: number }).index;
    if (text) event("content_block_delta", { index, delta: { type: "thinking_delta", thinking: text } });
    if (signature) {
      event("content_block_delta", { index, delta: { type: "signature_delta", signature } });
      (open as { signed?: boolean }).signed = true;
    }
  };
  const fail = (type: string, message: string) => {
    start(undefined);
    event("error", { error: { type, message } });
    ended = true;
  };
  const finishMessage = () => {
    start(undefined);
    close();
    const stop: { reason: StopReason; sequence: string | null } = stopReason(finish, matched, options.stopSequences);
    const cached = usage?.prompt_tokens_details?.cached_tokens;
    event("message_delta", {
      delta: { stop_reason: stop.reason, stop_sequence: stop.sequence },
      usage: {
        output_tokens: usage?.completion_tokens ?? 0,
        ...(usage?.prompt_tokens !== undefined ? { input_tokens: usage.prompt_tokens } : {}),
        ...(typeof cached === "number" ? { cache_read_input_tokens: cached } : {}),
      },
    });
    event("message_stop", {});
    ended = true;
  };

  const onChunk = (chunk: Chunk) => {
    if (chunk.error) {
      // An Anthropic upstream's own error type (overloaded_error, ...) is kept; the relay's
      // (upstream_timeout, upstream_stream_error, ...) are an api_error to Anthropic's clients.
      const code = chunk.error.code ?? "";
      fail(ANTHROPIC_STREAM_ERRORS.has(code) ? code : "api_error", chunk.error.message ?? "The upstream stream failed.");
      return;
    }
    start(chunk.id);
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return;
    const delta = choice.delta ?? {};
    for (const raw of delta.thinking_blocks ?? []) {
      const parsed = thinkingBlockShape.safeParse(raw);
      if (!parsed.success) continue;
      if (parsed.data.type === "redacted_thinking") {
        begin("thinking", { type: "redacted_thinking", data: parsed.data.data });
        close();
      } else thinking(parsed.data.thinking, parsed.data.signature);
    }
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (reasoning && options.wantThinking && !delta.thinking_blocks) thinking(reasoning, undefined);
    if (delta.content) {
      if (!open || open.kind !== "text") begin("text", { type: "text", text: "" });
      event("content_block_delta", { index: (open as { index: number }).index, delta: { type: "text_delta", text: delta.content } });
    }
    for (const call of delta.tool_calls ?? []) {
      const at = call.index ?? 0;
      let index = tools.get(at);
      if (index === undefined) {
        index = begin("tool", { type: "tool_use", id: call.id ?? `toolu_${crypto.randomUUID().replaceAll("-", "")}`, name: call.function?.name ?? "", input: {} });
        tools.set(at, index);
      }
      const args = call.function?.arguments;
      if (args) event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: args } });
    }
    if (choice.finish_reason) finish = choice.finish_reason;
    if (choice.stop_reason !== undefined && choice.stop_reason !== null) matched = choice.stop_reason;
  };

  const onEvent = (ev: SseEvent) => {
    if (ev.data === undefined) {
      // A keep-alive comment: Anthropic keeps its streams alive with ping events.
      if (started && hasComment(ev)) event("ping", {});
      return;
    }
    if (ev.data === "[DONE]") return finishMessage();
    let chunk: Chunk;
    try {
      chunk = JSON.parse(ev.data) as Chunk;
    } catch {
      return; // not JSON: nothing to translate
    }
    onChunk(chunk);
  };

  // After message_stop (or an error event) nothing more is translated, but the source is still
  // read to its end rather than cancelled: the pipeline settles usage and stores the answer in
  // the cache when the relayed stream completes, and the upstream closes right after anyway.
  let drained = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (out.length === 0 && !drained) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch {
          if (!ended) fail("api_error", "The upstream stream broke.");
          drained = true;
          break;
        }
        if (next.done) {
          drained = true;
          if (ended) break;
          for (const ev of splitter.push(decoder.decode())) if (!ended) onEvent(ev);
          const last = splitter.end();
          if (last && !ended) onEvent(last);
          if (!ended) {
            if (finish) finishMessage();
            else fail("api_error", "The upstream stream ended before the answer was complete.");
          }
          break;
        }
        if (ended) continue;
        for (const ev of splitter.push(decoder.decode(next.value, { stream: true }))) {
          if (ended) break;
          onEvent(ev);
        }
        if (!ended && splitter.pendingLength > MAX_PENDING_CHARS) {
          fail("api_error", "The upstream sent an event too large to relay.");
          drained = true;
          reader.cancel().catch(() => {});
        }
      }
      if (out.length > 0) {
        controller.enqueue(encoder.encode(out.join("")));
        out = [];
      }
      if (drained) controller.close();
    },
    cancel(reason) {
      return reader.cancel(reason).catch(() => {});
    },
  });
}
