// The /v1/messages stream translator (workers/api/messages/stream.ts) reads the relayed chat
// stream with the router's SSE splitter (workers/router/sse.ts): every SSE line ending (\n,
// \r\n, \r), any read size, comments as pings, a last event without its blank line, data split
// over several lines. Driven directly with byte streams, so each framing is exact.
import { describe, expect, it } from "vitest";
import { chatStreamToMessages } from "../../workers/api/messages/stream.ts";

const options = { model: "claude-test", inputTokensEstimate: 7, wantThinking: false };

const chunk = (v: Record<string, unknown>) => JSON.stringify({ id: "chatcmpl-1", object: "chat.completion.chunk", ...v });
const events = [
  chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] }),
  chunk({ choices: [{ index: 0, delta: { content: "Hel" }, finish_reason: null }] }),
  chunk({ choices: [{ index: 0, delta: { content: "lo" }, finish_reason: null }] }),
  chunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 7, completion_tokens: 2 } }),
];

/** The chat stream as SSE text: data events, a keep-alive comment after the first, then [DONE]. */
function sse(eol: string, { finalBlankLine = true } = {}): string {
  const block = (lines: string[]) => lines.join(eol) + eol + eol;
  const [first, ...rest] = events;
  const body = [block([`data: ${first}`]), block([": keep-alive"]), ...rest.map((e) => block([`data: ${e}`]))].join("");
  return body + (finalBlankLine ? block(["data: [DONE]"]) : "data: [DONE]");
}

/** A byte stream of `text` in reads of `size` bytes (cutting through lines and UTF-8 alike). */
function source(text: string, size: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

type Out = { event: string; data: Record<string, unknown> };

async function translate(text: string, size: number): Promise<Out[]> {
  const raw = await new Response(chatStreamToMessages(source(text, size), options)).text();
  return raw.split("\n\n").filter(Boolean).map((block) => {
    const [eventLine, dataLine] = block.split("\n");
    return { event: eventLine!.slice("event: ".length), data: JSON.parse(dataLine!.slice("data: ".length)) as Record<string, unknown> };
  });
}

describe("/v1/messages stream framing", () => {
  const expected = ["message_start", "ping", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"];

  it.each([
    ["\\n", 1, "\n"],
    ["\\n", 4096, "\n"],
    ["\\r\\n", 1, "\r\n"],
    ["\\r\\n", 7, "\r\n"],
    ["\\r", 1, "\r"],
    ["\\r", 4096, "\r"],
  ])("line endings %s in reads of %i byte(s): the same Anthropic events", async (_name, size, eol) => {
    const out = await translate(sse(eol), size);
    expect(out.map((e) => e.event)).toEqual(expected);
    const text = out.filter((e) => e.event === "content_block_delta").map((e) => (e.data.delta as { text: string }).text).join("");
    expect(text).toBe("Hello");
    expect(out.at(-2)!.data).toMatchObject({ delta: { stop_reason: "end_turn" }, usage: { output_tokens: 2, input_tokens: 7 } });
  });

  it("takes a last event that came without its blank line", async () => {
    const out = await translate(sse("\r\n", { finalBlankLine: false }), 5);
    expect(out.map((e) => e.event)).toEqual(expected);
  });

  it("joins an event's data lines, and ignores fields it does not use", async () => {
    const [first, second, third, last] = events;
    const split = (json: string) => { const cut = json.indexOf(",") + 1; return `data: ${json.slice(0, cut)}\ndata: ${json.slice(cut)}`; };
    const text = [`id: 1\ndata: ${first}`, `event: message\n${split(second!)}`, `retry: 10\ndata:${third}`, `data: ${last}`, "data: [DONE]"].join("\n\n") + "\n\n";
    const out = await translate(text, 3);
    expect(out.filter((e) => e.event === "content_block_delta").map((e) => (e.data.delta as { text: string }).text).join("")).toBe("Hello");
    expect(out.at(-1)!.event).toBe("message_stop");
  });

  it("a stream that ends before finishing ends with Anthropic's error event", async () => {
    const [first, second] = events;
    const out = await translate(`data: ${first}\r\rdata: ${second}\r\r`, 2);
    expect(out.at(-1)).toEqual({ event: "error", data: { type: "error", error: { type: "api_error", message: "The upstream stream ended before the answer was complete." } } });
  });
});
