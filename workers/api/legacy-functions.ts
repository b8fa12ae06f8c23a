// Clients of OpenAI's legacy function calling (`functions` / `function_call`, no `tools`) expect
// the answer in that dialect too: `message.function_call` and finish_reason "function_call". The
// adapters translate `functions` to tools for families that only know tools (Anthropic, Workers
// AI), and some OpenAI-compatible servers answer tools either way, so the answer may come back
// as `tool_calls`; this turns it back, JSON and stream alike. An answer already in the legacy
// dialect passes unchanged.
import type { ChatCompletionRequest } from "../../schema/openai.ts";
import { splitEvents } from "../router/sse.ts";

type ToolCall = { index?: number; id?: string; function?: { name?: string; arguments?: string } };
type Choice = { message?: Record<string, unknown>; delta?: Record<string, unknown>; finish_reason?: string | null };

export function wantsLegacyFunctions(request: ChatCompletionRequest): boolean {
  return request.functions !== undefined && request.tools === undefined;
}

// A legacy answer holds one call: the first; the rest (parallel calls) have no legacy form.
function legacyChoice(choice: Choice, field: "message" | "delta"): boolean {
  const part = choice[field];
  const calls = part?.tool_calls as ToolCall[] | undefined;
  let changed = false;
  if (part && Array.isArray(calls)) {
    const first = calls.find((c) => (c.index ?? 0) === 0);
    delete part.tool_calls;
    if (first?.function) {
      const fn: Record<string, string> = {};
      if (first.function.name !== undefined) fn.name = first.function.name;
      if (first.function.arguments !== undefined) fn.arguments = first.function.arguments;
      part.function_call = fn;
    }
    changed = true;
  }
  if (choice.finish_reason === "tool_calls") {
    choice.finish_reason = "function_call";
    changed = true;
  }
  return changed;
}

export function legacyJson(body: string): string {
  const answer = JSON.parse(body) as { choices?: Choice[] };
  let changed = false;
  for (const choice of answer.choices ?? []) changed = legacyChoice(choice, "message") || changed;
  return changed ? JSON.stringify(answer) : body;
}

export function legacyStream(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  const convert = (raw: string, data: string | undefined): string => {
    if (data === undefined || !data.startsWith("{")) return raw;
    let chunk: { choices?: Choice[] };
    try {
      chunk = JSON.parse(data);
    } catch {
      return raw; // not JSON: relayed as it came
    }
    let changed = false;
    for (const choice of chunk.choices ?? []) changed = legacyChoice(choice, "delta") || changed;
    return changed ? `data: ${JSON.stringify(chunk)}` : raw;
  };
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(bytes, controller) {
        const { events, rest } = splitEvents(buffer + decoder.decode(bytes, { stream: true }));
        buffer = rest;
        if (events.length > 0) controller.enqueue(encoder.encode(events.map((e) => `${convert(e.raw, e.data)}\n\n`).join("")));
      },
      flush(controller) {
        const tail = buffer + decoder.decode();
        if (tail.length > 0) controller.enqueue(encoder.encode(tail));
      },
    }),
  );
}
