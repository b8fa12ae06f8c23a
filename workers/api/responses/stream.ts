// The chat pipeline's chunk stream as the Responses API's event stream (`event:` names and
// `sequence_number`s, in the order the openai client's ResponseStream checks):
//   response.created, response.in_progress
//   per text answer: response.output_item.added (message), response.content_part.added,
//     response.output_text.delta ..., response.output_text.done, response.content_part.done,
//     response.output_item.done
//   per tool call: response.output_item.added (function_call),
//     response.function_call_arguments.delta ..., response.function_call_arguments.done,
//     response.output_item.done
//   response.completed (response.incomplete when the answer hit max_output_tokens or a content
//   filter), with usage; or response.failed when the upstream broke mid-way (the chat stream's
//   error event).
// The final response is handed to `finish` (which stores it) before the last event is sent, so
// a client that reads response.completed can chain on it at once. Pull-driven: the chat stream
// is read only as fast as the client reads.
import { splitEvents } from "../../router/sse.ts";
import {
  finishStatus,
  functionCallItem,
  messageItem,
  newId,
  usageFrom,
  type FunctionCallItem,
  type MessageItem,
  type OutputItem,
  type ResponseObject,
} from "./shape.ts";

type ChatChunk = {
  error?: { message?: string; code?: unknown };
  choices?: {
    delta?: {
      content?: string | null;
      refusal?: string | null;
      tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[];
    };
    finish_reason?: string | null;
  }[];
  usage?: Parameters<typeof usageFrom>[0];
};

export function responsesStream(
  chat: ReadableStream<Uint8Array>,
  base: ResponseObject,
  finish: (final: ResponseObject) => Promise<void>,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const reader = chat.getReader();
  const output: OutputItem[] = [];
  let sequence = 0;
  let buffer = "";
  let text: { index: number; item: MessageItem; text: string; refusal: string | null } | null = null;
  const calls = new Map<number, { index: number; item: FunctionCallItem }>();
  let finishReason: string | null = null;
  let usage: ChatChunk["usage"] = null;
  let ended = false;

  const event = (type: string, fields: Record<string, unknown>): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
  const snapshot = (extra: Partial<ResponseObject> = {}): ResponseObject => ({ ...base, output: structuredClone(output), ...extra });

  function openText(out: string[]): NonNullable<typeof text> {
    if (text) return text;
    closeCalls(out);
    const item = messageItem("", null, "in_progress");
    item.content = [];
    text = { index: output.length, item, text: "", refusal: null };
    output.push(item);
    out.push(event("response.output_item.added", { output_index: text.index, item: structuredClone(item) }));
    out.push(event("response.content_part.added", { item_id: item.id, output_index: text.index, content_index: 0, part: { type: "output_text", text: "", annotations: [], logprobs: [] } }));
    item.content = [{ type: "output_text", text: "", annotations: [], logprobs: [] }];
    return text;
  }

  function closeText(out: string[], status: MessageItem["status"] = "completed"): void {
    if (!text) return;
    const { index, item } = text;
    const part = { type: "output_text" as const, text: text.text, annotations: [], logprobs: [] };
    out.push(event("response.output_text.done", { item_id: item.id, output_index: index, content_index: 0, text: text.text, logprobs: [] }));
    out.push(event("response.content_part.done", { item_id: item.id, output_index: index, content_index: 0, part }));
    item.content = [part];
    if (text.refusal !== null) {
      const refusal = { type: "refusal" as const, refusal: text.refusal };
      out.push(event("response.content_part.added", { item_id: item.id, output_index: index, content_index: 1, part: { type: "refusal", refusal: "" } }));
      out.push(event("response.refusal.done", { item_id: item.id, output_index: index, content_index: 1, refusal: text.refusal }));
      out.push(event("response.content_part.done", { item_id: item.id, output_index: index, content_index: 1, part: refusal }));
      item.content.push(refusal);
    }
    item.status = status;
    out.push(event("response.output_item.done", { output_index: index, item: structuredClone(item) }));
    text = null;
  }

  function closeCalls(out: string[], status: FunctionCallItem["status"] = "completed"): void {
    for (const { index, item } of calls.values()) {
      out.push(event("response.function_call_arguments.done", { item_id: item.id, output_index: index, name: item.name, arguments: item.arguments }));
      item.status = status;
      out.push(event("response.output_item.done", { output_index: index, item: structuredClone(item) }));
    }
    calls.clear();
  }

  function onChunk(chunk: ChatChunk, out: string[]): "failed" | null {
    if (chunk.error) return "failed";
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return null;
    const delta = choice.delta ?? {};
    if (typeof delta.content === "string" && delta.content !== "") {
      const open = openText(out);
      open.text += delta.content;
      (open.item.content[0] as { text: string }).text = open.text;
      out.push(event("response.output_text.delta", { item_id: open.item.id, output_index: open.index, content_index: 0, delta: delta.content, logprobs: [] }));
    }
    if (typeof delta.refusal === "string" && delta.refusal !== "") {
      const open = openText(out);
      open.refusal = (open.refusal ?? "") + delta.refusal;
    }
    for (const call of delta.tool_calls ?? []) {
      const key = call.index ?? 0;
      let open = calls.get(key);
      if (!open) {
        closeText(out);
        const item = functionCallItem(call.id ?? newId("fc").replace("fc_", "call_"), call.function?.name ?? "", "", "in_progress");
        open = { index: output.length, item };
        output.push(item);
        calls.set(key, open);
        out.push(event("response.output_item.added", { output_index: open.index, item: structuredClone(item) }));
      } else if (call.function?.name && !open.item.name) {
        open.item.name = call.function.name;
      }
      const args = call.function?.arguments;
      if (args) {
        open.item.arguments += args;
        out.push(event("response.function_call_arguments.delta", { item_id: open.item.id, output_index: open.index, delta: args }));
      }
    }
    if (choice.finish_reason) finishReason = choice.finish_reason;
    return null;
  }

  async function end(out: string[], failure: ChatChunk["error"] | null): Promise<void> {
    ended = true;
    const now = Math.floor(Date.now() / 1000);
    if (failure) {
      closeText(out, "incomplete");
      closeCalls(out, "incomplete");
      const failed = snapshot({
        status: "failed",
        completed_at: null,
        error: { code: "server_error", message: failure.message ?? "The upstream failed while answering." },
        usage: usage ? usageFrom(usage) : null,
      });
      // A failed response is kept like OpenAI keeps it (GET shows why); its storage is best effort.
      await finish(failed).catch(() => {});
      out.push(event("response.failed", { response: failed }));
      return;
    }
    const { status, incomplete_details } = finishStatus(finishReason);
    const itemStatus = status === "completed" ? "completed" : "incomplete";
    closeText(out, itemStatus);
    closeCalls(out, itemStatus);
    const final = snapshot({ status, incomplete_details, completed_at: now, usage: usageFrom(usage) });
    try {
      await finish(final);
    } catch {
      const failed = snapshot({ status: "failed", error: { code: "server_error", message: "The response could not be stored; it was not kept." } });
      out.push(event("response.failed", { response: failed }));
      return;
    }
    out.push(event(status === "completed" ? "response.completed" : "response.incomplete", { response: final }));
  }

  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(event("response.created", { response: snapshot() }) + event("response.in_progress", { response: snapshot() })));
    },
    async pull(controller) {
      const out: string[] = [];
      while (out.length === 0 && !ended) {
        const { done, value } = await reader.read();
        if (done) {
          buffer += decoder.decode();
          // A stream that ends without [DONE] or an error event still ends the response.
          await end(out, null);
          break;
        }
        buffer += decoder.decode(value, { stream: true });
        const { events, rest } = splitEvents(buffer);
        buffer = rest;
        for (const e of events) {
          if (ended || e.data === undefined) continue;
          if (e.data === "[DONE]") {
            await end(out, null);
            continue;
          }
          let chunk: ChatChunk;
          try {
            chunk = JSON.parse(e.data) as ChatChunk;
          } catch {
            continue;
          }
          if (onChunk(chunk, out) === "failed") await end(out, chunk.error ?? {});
        }
      }
      if (out.length > 0) controller.enqueue(encoder.encode(out.join("")));
      if (ended) {
        // Read the chat stream to its end (it closes right after [DONE] or its error event)
        // rather than cancel it: a cancelled stream counts as abandoned upstream and in the cache.
        while (!(await reader.read()).done);
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

// A finished response as the event stream that would have produced it: for a stream request
// the cache answered with JSON, and for GET /v1/responses/:id?stream=true.
export function replayStream(final: ResponseObject): ReadableStream<Uint8Array> {
  let sequence = 0;
  const out: string[] = [];
  const event = (type: string, fields: Record<string, unknown>) =>
    out.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`);
  const start = { ...final, status: "in_progress", completed_at: null, incomplete_details: null, usage: null, output: [] };
  event("response.created", { response: start });
  event("response.in_progress", { response: start });
  final.output.forEach((item, index) => {
    if (item.type === "function_call") {
      event("response.output_item.added", { output_index: index, item: { ...item, status: "in_progress", arguments: "" } });
      if (item.arguments) event("response.function_call_arguments.delta", { item_id: item.id, output_index: index, delta: item.arguments });
      event("response.function_call_arguments.done", { item_id: item.id, output_index: index, name: item.name, arguments: item.arguments });
    } else {
      event("response.output_item.added", { output_index: index, item: { ...item, status: "in_progress", content: [] } });
      item.content.forEach((part, content_index) => {
        const ids = { item_id: item.id, output_index: index, content_index };
        if (part.type === "output_text") {
          event("response.content_part.added", { ...ids, part: { ...part, text: "" } });
          if (part.text) event("response.output_text.delta", { ...ids, delta: part.text, logprobs: [] });
          event("response.output_text.done", { ...ids, text: part.text, logprobs: [] });
        } else {
          event("response.content_part.added", { ...ids, part: { ...part, refusal: "" } });
          event("response.refusal.done", { ...ids, refusal: part.refusal });
        }
        event("response.content_part.done", { ...ids, part });
      });
    }
    event("response.output_item.done", { output_index: index, item });
  });
  const last = final.status === "completed" ? "response.completed" : final.status === "incomplete" ? "response.incomplete" : "response.failed";
  event(last, { response: final });
  const bytes = new TextEncoder().encode(out.join(""));
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}
