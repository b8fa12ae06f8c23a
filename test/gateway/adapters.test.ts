// The adapter machinery on its own: the parameter map, and the SSE relay's event handling with
// a non-identity chunk transform (what an Anthropic or Workers AI adapter will plug into).
import { describe, expect, it } from "vitest";
import { chatCompletionRequest } from "../../schema/openai.ts";
import { mapRequest } from "../../workers/router/providers/map-request.ts";
import { openAiCompatible } from "../../workers/router/providers/openai-compatible.ts";
import type { ParamMap, ProviderAdapter } from "../../workers/router/providers/types.ts";
import { parseEvent, relaySse, splitEvents } from "../../workers/router/sse.ts";

const target = { baseUrl: "http://upstream.test/v1", model: "upstream-id", credential: "secret" };

describe("parameter maps", () => {
  it("renames, transforms and drops fields, then lets the adapter reshape the body", () => {
    const params: ParamMap = {
      ...openAiCompatible.params,
      max_tokens: { to: "max_output_tokens" },
      max_completion_tokens: { to: "max_output_tokens" },
      stop: { to: "stop_sequences", transform: (v) => (typeof v === "string" ? [v] : v) },
      temperature: { to: "temperature", transform: (v) => (v as number) / 2 },
      seed: null,
      user: null,
    };
    const adapter: ProviderAdapter = {
      ...openAiCompatible,
      params,
      finalizeBody: (mapped) => {
        const { messages, ...rest } = mapped as { messages: { role: string; content: string }[] };
        return {
          ...rest,
          system: messages.filter((m) => m.role === "system").map((m) => m.content).join("\n"),
          messages: messages.filter((m) => m.role !== "system"),
        };
      },
    };
    const request = chatCompletionRequest.parse({
      model: "public-name",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
      ],
      max_tokens: 10,
      stop: "END",
      temperature: 1,
      seed: 3,
      user: "u1",
    });
    expect(mapRequest(adapter, { request, target })).toEqual({
      model: "upstream-id",
      system: "be brief",
      messages: [{ role: "user", content: "hi" }],
      max_output_tokens: 10,
      stop_sequences: ["END"],
      temperature: 0.5,
    });
  });

  it("sends an OpenAI-compatible upstream the request as given, with its own model id", () => {
    const request = chatCompletionRequest.parse({ model: "public-name", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true } });
    expect(mapRequest(openAiCompatible, { request, target })).toEqual({ ...request, model: "upstream-id" });
    expect(openAiCompatible.headers(target)).toEqual({ authorization: "Bearer secret" });
    expect(openAiCompatible.headers({ ...target, credential: undefined })).toEqual({});
  });
});

describe("SSE parsing", () => {
  it("splits complete events, keeps the remainder, and handles CRLF and multi-line data", () => {
    const { events, rest } = splitEvents('data: {"a":1}\n\n: ping\r\n\r\nevent: delta\ndata: line1\ndata: line2\n\ndata: part');
    expect(events).toEqual([
      { event: undefined, data: '{"a":1}', raw: 'data: {"a":1}' },
      { event: undefined, data: undefined, raw: ": ping" },
      { event: "delta", data: "line1\nline2", raw: "event: delta\ndata: line1\ndata: line2" },
    ]);
    expect(rest).toBe("data: part");
    expect(parseEvent("data:no-space")).toMatchObject({ data: "no-space" });
  });
});

function byteStream(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(p);
      controller.close();
    },
  });
}

describe("relaySse", () => {
  it("reassembles events split across reads (even inside a UTF-8 character) and applies the transform", async () => {
    const text = 'data: {"t":"héllo"}\n\nevent: skip\ndata: {"t":"drop me"}\n\ndata: {"t":"two"}\n\ndata: [DONE]\n\n';
    const bytes = new TextEncoder().encode(text);
    const cut = text.indexOf("é") + 1; // inside the two-byte é
    const parts = [bytes.slice(0, 3), bytes.slice(3, cut), bytes.slice(cut, cut + 5), bytes.slice(cut + 5)];
    const relayed = relaySse(byteStream(parts), {
      idleTimeoutMs: 5_000,
      transform: (data, event) => (event === "skip" ? [] : [JSON.stringify({ up: (JSON.parse(data) as { t: string }).t.toUpperCase() })]),
    });
    expect(await new Response(relayed).text()).toBe('data: {"up":"HÉLLO"}\n\ndata: {"up":"TWO"}\n\ndata: [DONE]\n\n');
  });

  it("flushes a last event that the upstream did not terminate", async () => {
    const relayed = relaySse(byteStream([new TextEncoder().encode('data: {"x":1}\n\ndata: {"x":2}')]), {
      idleTimeoutMs: 5_000,
      transform: (d) => [d],
    });
    expect(await new Response(relayed).text()).toBe('data: {"x":1}\n\ndata: {"x":2}\n\n');
  });
});
