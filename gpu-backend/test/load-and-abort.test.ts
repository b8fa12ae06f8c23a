// The load a router reads (x-queue-depth, vLLM's gauges) counts embedding requests too; a full
// queue answers 503 queue_full in OpenAI's error shape on every route that queues; a client that
// goes away mid-generation frees its slot, on every generating route; embedding inputs are
// tokenized once; and every route names the field of a body nested too deep.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoadedModel } from "../src/engine/loaded-model.ts";
import { startBackend, tinyModel, user, waitFor, type Backend } from "./helpers.ts";

let b: Backend;
let m: LoadedModel;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "1", QUEUE_LIMIT: "1", CONTEXT_SIZE: "4096" });
  m = b.registry.get("tiny")!;
});
afterAll(() => b?.close());

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${b.base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body), signal });

async function metrics(): Promise<Map<string, number>> {
  const text = await (await fetch(`${b.url}/metrics`)).text();
  return new Map(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));
}

async function expectQueueFull(res: Response) {
  expect(res.status).toBe(503);
  expect(res.headers.get("retry-after")).toBe("1");
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as { error: { message: string; type: string; code: string; param: null } };
  expect(body.error).toMatchObject({ type: "server_error", code: "queue_full", param: null });
  expect(body.error.message).toMatch(/queue is full/);
}

describe("embeddings in the load signals", () => {
  it("a queued embedding request counts in x-queue-depth and vllm:num_requests_waiting; past the queue, 503 queue_full", async () => {
    // The embedding context is taken (as a long batch would take it): the next request waits.
    await m.embedder.pool.acquire();
    let released = false;
    try {
      const waiting = post("/embeddings", { model: "tiny", input: ["queued one", "queued two"], encoding_format: "float" });
      await waitFor(() => m.embeddingLoad.waiting === 1, 20_000, "embedding request queued");
      expect(b.registry.queueDepth).toBe(1);
      expect((await fetch(`${b.url}/health/ready`)).headers.get("x-queue-depth")).toBe("1");
      const gauges = await metrics();
      expect(gauges.get("vllm:num_requests_waiting")).toBe(1);
      expect(gauges.get("vllm:num_requests_running")).toBe(1);
      expect(gauges.get('edgeclaw_embedding_requests_waiting{model="tiny"}')).toBe(1);
      expect(gauges.get('edgeclaw_embedding_requests_running{model="tiny"}')).toBe(1);

      const rejectedBefore = gauges.get("edgeclaw_requests_rejected_total")!;
      await expectQueueFull(await post("/embeddings", { model: "tiny", input: "one too many" }));
      expect((await metrics()).get("edgeclaw_requests_rejected_total")).toBe(rejectedBefore + 1);

      m.embedder.pool.release("embedder");
      released = true;
      const res = await waiting;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { data: unknown[] }).data).toHaveLength(2);
      expect(b.registry.queueDepth).toBe(0);
      expect(b.registry.running).toBe(0);
    } finally {
      if (!released) m.embedder.pool.release("embedder");
    }
  });

  it("a client that gives up while its embedding request waits leaves the queue", async () => {
    await m.embedder.pool.acquire();
    try {
      const abort = new AbortController();
      const gone = post("/embeddings", { model: "tiny", input: "never mind" }, abort.signal).catch((e: unknown) => e);
      await waitFor(() => b.registry.queueDepth === 1, 20_000, "embedding request queued");
      abort.abort();
      await waitFor(() => b.registry.queueDepth === 0, 20_000, "queue emptied");
      expect(await gone).toBeInstanceOf(Error);
    } finally {
      m.embedder.pool.release("embedder");
    }
    const after = await post("/embeddings", { model: "tiny", input: "still serving" });
    expect(after.status).toBe(200);
    expect(b.registry.running).toBe(0);
  });

  it("tokenizes each input once (the count and the embedding use the same tokens)", async () => {
    const model = m.model;
    const original = model.tokenize;
    const seen: string[] = [];
    const counting = ((text: string, ...rest: unknown[]) => {
      seen.push(text);
      return (original as (...a: unknown[]) => unknown)(text, ...rest);
    }) as typeof model.tokenize;
    // node-llama-cpp's embedding context tokenizes through `tokenizer` (a plain field, read-only in its types).
    const fields = model as { tokenize: typeof counting; tokenizer: typeof counting };
    fields.tokenize = counting;
    fields.tokenizer = counting;
    try {
      const inputs = ["first input", "second input", "third input"];
      const res = await post("/embeddings", { model: "tiny", input: inputs, encoding_format: "float" });
      expect(res.status).toBe(200);
      expect(seen.filter((s) => inputs.includes(s)).sort()).toEqual([...inputs].sort());
    } finally {
      fields.tokenize = original;
      fields.tokenizer = original;
    }
  });
});

describe("queue_full on /v1/completions", () => {
  it("past the queue limit answers 503 queue_full in OpenAI's error shape; the queued one completes", async () => {
    const slot = await m.acquire({ tokens: [] });
    let released = false;
    try {
      const queued = post("/completions", { model: "tiny", prompt: "wait", max_tokens: 3 });
      await waitFor(() => m.pool.waiting === 1, 20_000, "completion queued");
      await expectQueueFull(await post("/completions", { model: "tiny", prompt: "refused", max_tokens: 3 }));
      await expectQueueFull(await post("/completions", { model: "tiny", prompt: "refused", max_tokens: 3, stream: true }));
      m.release(slot);
      released = true;
      const res = await queued;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(3);
    } finally {
      if (!released) m.release(slot);
    }
  });
});

describe("a client that goes away mid-generation frees the slot", () => {
  it.each([
    ["/completions", { prompt: "abandon me" }, false],
    ["/completions", { prompt: "abandon my stream" }, true],
    ["/chat/completions", { messages: user("abandon me") }, false],
  ])("%s %j stream=%s", async (path, fields, stream) => {
    // The server's only slot, to watch its token meter.
    const slot = await m.acquire({ tokens: [] });
    m.release(slot);
    const outputBefore = slot.tokenMeter.usedOutputTokens;
    const generated = () => slot.tokenMeter.usedOutputTokens - outputBefore;
    const cancelledBefore = (await metrics()).get('edgeclaw_requests_total{model="tiny",outcome="cancelled"}') ?? 0;

    const abort = new AbortController();
    const sent = post(path, { model: "tiny", max_tokens: 3000, temperature: 0, stream, ...fields }, abort.signal);
    if (stream) {
      const res = await sent;
      expect(res.status).toBe(200);
      await res.body!.getReader().read(); // the stream is flowing
    }
    await waitFor(() => m.pool.running === 1 && generated() >= 5, 20_000, "generating");
    abort.abort();
    if (!stream) await expect(sent).rejects.toThrow();
    await waitFor(() => m.pool.running === 0, 20_000, "slot freed");
    // Generation stopped well short of max_tokens, and the request counts as cancelled.
    expect(generated()).toBeLessThan(3000);
    expect((await metrics()).get('edgeclaw_requests_total{model="tiny",outcome="cancelled"}')).toBe(cancelledBefore + 1);
    // The freed slot serves the next request in full.
    const next = await post("/completions", { model: "tiny", prompt: "next", max_tokens: 4 });
    expect(((await next.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(4);
  });
});

describe("body bounds on every route", () => {
  const deep = (n: number) => `${"[".repeat(n)}1${"]".repeat(n)}`;
  it.each([
    ["/completions", `{"model":"tiny","prompt":${deep(100)}}`, "prompt"],
    ["/embeddings", `{"model":"tiny","input":${deep(100)}}`, "input"],
    ["/chat/completions", `{"model":"tiny","messages":${deep(100)}}`, "messages"],
    ["/../tokenize", `{"model":"tiny","prompt":${deep(100)}}`, "prompt"],
    ["/../detokenize", `{"model":"tiny","tokens":${deep(100)}}`, "tokens"],
  ])("%s names %s when nested too deep", async (path, body, param) => {
    const res = await fetch(new URL(`${b.base}${path}`).href, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(400);
    const err = ((await res.json()) as { error: { code: string; param: string; message: string } }).error;
    expect(err).toMatchObject({ code: "invalid_value", param });
    expect(err.message).toMatch(/nested deeper than 64 levels/);
  });
});
