import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, BASE, expectStatus, hello, makeTenant, recordedUpstreamRequest, uid, type TestTenant } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
  // "stalling": an upstream that goes quiet mid-stream, behind a provider with a 300 ms timeout.
  const provider = expectStatus(
    await admin(t.owner, "POST", "/providers", {
      tenant_id: t.tenantId,
      name: "impatient",
      kind: "openai-compatible",
      base_url: `${env.FAKE_UPSTREAM_URL}/v1`,
      timeout_ms: 300,
    }),
    201,
  );
  expectStatus(
    await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: "stalling", provider_id: provider.body.id, upstream_model: "fake-stall" }),
    201,
  );
  expectStatus(
    await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: "impatient-echo", provider_id: provider.body.id, upstream_model: "fake-echo" }),
    201,
  );
});

function streamRequest(model: string, extra: Record<string, unknown> = {}, requestId = uid("req-stream")): Promise<Response> {
  return SELF.fetch(`${BASE}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model, ...hello, stream: true, ...extra }),
  });
}

// Reads SSE events off a response body one at a time, as a client would.
class EventReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buffer = "";

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  // The next event block, or null at the end of the stream.
  async next(): Promise<string | null> {
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end !== -1) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return block;
      }
      const { done, value } = await this.reader.read();
      if (done) return this.buffer.length > 0 ? this.buffer : null;
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  async rest(): Promise<string[]> {
    const out: string[] = [];
    for (let ev = await this.next(); ev !== null; ev = await this.next()) out.push(ev);
    return out;
  }
}

function dataOf(block: string): any {
  expect(block.startsWith("data: ")).toBe(true);
  const data = block.slice("data: ".length);
  return data === "[DONE]" ? data : JSON.parse(data);
}

describe("streaming passthrough", () => {
  it("relays the upstream's chunks, usage chunk and [DONE] in order, with the gateway headers", async () => {
    const res = await streamRequest("fake-echo", { stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("x-edgeclaw-model")).toBe("fake-echo");
    expect(res.headers.get("x-edgeclaw-provider")).toBe("fake");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(res.headers.get("x-edgeclaw-overhead-ms")).toMatch(/^\d+\.\d{2}$/); // present, milliseconds with 2 decimals

    const events = (await new EventReader(res.body!).rest()).map(dataOf);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    expect(text).toBe("echo: hello");
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe("stop");
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual({ prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
  });

  it("forwards stream and stream_options upstream and asks for an event stream", async () => {
    const requestId = uid("req-stream-fwd");
    const res = await streamRequest("fake-echo", { stream_options: { include_usage: true } }, requestId);
    await res.text();
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.accept).toBe("text/event-stream");
    expect(seen.body).toMatchObject({ model: "fake-echo", stream: true, stream_options: { include_usage: true } });
  });

  it("preserves streamed tool-call deltas", async () => {
    const res = await streamRequest("fake-tools", { tools: [{ type: "function", function: { name: "get_weather" } }] });
    const chunks = (await new EventReader(res.body!).rest()).map(dataOf).filter((c) => c !== "[DONE]");
    const calls = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, id: "call_fake_1", type: "function", function: { name: "get_weather" } });
    expect(calls.map((c: any) => c.function.arguments).join("")).toBe('{"city":"Paris"}');
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("delivers each event as it arrives, before the upstream has finished", async () => {
    const requestId = uid("req-gated");
    const res = await streamRequest("fake-gated", {}, requestId);
    expect(res.status).toBe(200);
    const reader = new EventReader(res.body!);
    // The upstream holds the rest of its stream until released: these two reads can only
    // complete if the gateway forwards events as they come instead of buffering the body.
    const first = dataOf((await reader.next())!);
    expect(first.choices[0].delta).toEqual({ role: "assistant", content: "" });
    expect(await reader.next()).toBe(": gate closed");
    const release = await fetch(`${env.FAKE_UPSTREAM_URL}/control/release/${requestId}`, { method: "POST" });
    expect(release.status).toBe(200);
    const rest = (await reader.rest()).map(dataOf);
    expect(rest.at(-1)).toBe("[DONE]");
    expect(rest.slice(0, -1).map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("echo: hello");
  });

  it("ends a stalled stream with an OpenAI-shaped error event", async () => {
    const res = await SELF.fetch(`${BASE}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "stalling", ...hello, stream: true }),
    });
    expect(res.status).toBe(200);
    const events = await new EventReader(res.body!).rest();
    expect(dataOf(events[0]!).choices[0].delta.role).toBe("assistant");
    expect(dataOf(events.at(-1)!)).toEqual({
      error: { message: expect.any(String), type: "upstream_error", param: null, code: "upstream_timeout" },
    });
  });

  it("does not count a slow reader's pauses against the upstream's idle limit", async () => {
    // The provider allows 300 ms of upstream silence; this client waits longer between reads.
    const res = await SELF.fetch(`${BASE}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "impatient-echo", ...hello, stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = new EventReader(res.body!);
    const events: string[] = [];
    for (let block = await reader.next(); block !== null; block = await reader.next()) {
      events.push(block);
      await new Promise((r) => setTimeout(r, 450));
    }
    expect(events.some((e) => e.includes("upstream_timeout"))).toBe(false);
    expect(events.at(-1)).toBe("data: [DONE]");
  });

  it("ends a stream whose upstream connection drops with an error event", async () => {
    const res = await streamRequest("fake-reset");
    expect(res.status).toBe(200);
    const events = await new EventReader(res.body!).rest();
    expect(dataOf(events[0]!).choices[0].delta.role).toBe("assistant");
    expect(dataOf(events.at(-1)!).error).toMatchObject({ type: "upstream_error" });
  });

  it("answers 502 when a stream was asked for but the upstream sent JSON", async () => {
    const res = await streamRequest("fake-wrong-shape");
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.code).toBe("upstream_bad_response");
  });

  it("maps upstream errors before the stream starts to statuses, as for non-stream calls", async () => {
    const res = await streamRequest("fake-status-429");
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
  });
});
