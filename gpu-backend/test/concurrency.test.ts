// Slots, the FIFO queue in front of them, refusal past QUEUE_LIMIT, and cancellation.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, waitFor, type Backend } from "./helpers.ts";

const metric = async (b: Backend, name: string) => {
  const text = await (await fetch(`${b.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line ? Number(line.split(" ").at(-1)) : NaN;
};

describe("6 concurrent streams on 4 slots", () => {
  let b: Backend;
  beforeAll(async () => {
    b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "4" });
  });
  afterAll(() => b?.close());

  it("runs 4 in parallel, queues 2 in order, and completes all 6", async () => {
    const seen = { running: 0, waiting: 0 };
    const sample = setInterval(() => {
      seen.running = Math.max(seen.running, b.registry.running);
      seen.waiting = Math.max(seen.waiting, b.registry.queueDepth);
    }, 1);
    const firstContentAt: number[] = [];
    const runs = Array.from({ length: 6 }, async (_, i) => {
      const stream = await b.client.chat.completions.create({ model: "tiny", messages: user(`stream ${i}`), max_tokens: 300, stream: true, stream_options: { include_usage: true } });
      let tokens = 0;
      let finish: string | null = null;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content && firstContentAt[i] === undefined) firstContentAt[i] = performance.now();
        finish = chunk.choices[0]?.finish_reason ?? finish;
        tokens = chunk.usage?.completion_tokens ?? tokens;
      }
      return { finish, tokens };
    });
    // While they run, the load gauges show the split (also under vLLM's names).
    await waitFor(() => b.registry.running === 4 && b.registry.queueDepth === 2, 20_000, "4 running and 2 waiting");
    const running = await metric(b, "vllm:num_requests_running");
    const waiting = await metric(b, "vllm:num_requests_waiting");
    const kv = await metric(b, "vllm:kv_cache_usage_perc");
    const results = await Promise.all(runs);
    clearInterval(sample);
    expect(results).toEqual(Array(6).fill({ finish: "length", tokens: 300 }));
    expect(seen).toEqual({ running: 4, waiting: 2 });
    expect(running).toBe(4);
    expect(waiting).toBe(2);
    expect(kv).toBeGreaterThan(0);
    expect(kv).toBeLessThanOrEqual(1);
    // The two queued streams start after all four first ones.
    const queued = [4, 5].map((i) => firstContentAt[i]!);
    const firstFour = [0, 1, 2, 3].map((i) => firstContentAt[i]!);
    expect(Math.min(...queued)).toBeGreaterThan(Math.max(...firstFour));
    expect(b.registry.running).toBe(0);
  });

  it("exposes counters and latency histograms in Prometheus text", async () => {
    const text = await (await fetch(`${b.url}/metrics`)).text();
    expect(await metric(b, "edgeclaw_generation_tokens_total")).toBeGreaterThanOrEqual(1800);
    expect(text).toMatch(/edgeclaw_time_to_first_token_seconds_count\{model="tiny"\} [1-9]/);
    expect(text).toMatch(/edgeclaw_time_per_output_token_seconds_bucket\{model="tiny",le="\+Inf"\} [1-9]/);
    expect(text).toMatch(/# TYPE edgeclaw_prompt_tokens_total counter/);
    expect(text).toMatch(/edgeclaw_slot_usage_ratio\{model="tiny"\} 0/);
  });
});

describe("one slot, queue limit 1", () => {
  let b: Backend;
  beforeAll(async () => {
    b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "1", QUEUE_LIMIT: "1", CONTEXT_SIZE: "4096" });
  });
  afterAll(() => b?.close());

  it("refuses past the queue with 503, Retry-After and code queue_full", async () => {
    const long = () => b.client.chat.completions.create({ model: "tiny", messages: user("long"), max_tokens: 1500 });
    const first = long();
    await waitFor(() => b.registry.running === 1, 10_000, "first running");
    const second = long();
    await waitFor(() => b.registry.queueDepth === 1, 10_000, "second queued");
    const res = await fetch(`${b.base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "tiny", messages: user("third"), max_tokens: 2 }) });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("x-queue-depth")).toBe("1");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("queue_full");
    await expect(b.client.chat.completions.create({ model: "tiny", messages: user("fourth"), max_tokens: 2 })).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const [a, c] = await Promise.all([first, second]);
    expect([a.usage!.completion_tokens, c.usage!.completion_tokens]).toEqual([1500, 1500]);
    expect(await metric(b, "edgeclaw_requests_rejected_total")).toBe(2);
  });

  it("a cancelled stream stops generating and frees its slot at once", async () => {
    const before = await metric(b, "edgeclaw_generation_tokens_total");
    const controller = new AbortController();
    const stream = await b.client.chat.completions.create({ model: "tiny", messages: user("cancel me"), max_tokens: 3500, stream: true }, { signal: controller.signal });
    let chunks = 0;
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content && ++chunks === 5) controller.abort();
      }
    } catch {
      // the SDK may end the iteration or throw on abort; either way the client is gone
    }
    expect(chunks).toBe(5);
    await waitFor(() => b.registry.running === 0, 2_000, "slot freed");
    // A waiting request also leaves the queue when its client goes away.
    const holder = b.client.chat.completions.create({ model: "tiny", messages: user("hold"), max_tokens: 500 });
    await waitFor(() => b.registry.running === 1, 5_000, "holder running");
    const queued = new AbortController();
    const gone = b.client.chat.completions.create({ model: "tiny", messages: user("queued"), max_tokens: 5 }, { signal: queued.signal }).catch((e: unknown) => e);
    await waitFor(() => b.registry.queueDepth === 1, 5_000, "queued");
    queued.abort();
    await waitFor(() => b.registry.queueDepth === 0, 2_000, "queue emptied");
    expect(await gone).toBeInstanceOf(Error);
    await holder;
    const after = await metric(b, "edgeclaw_generation_tokens_total");
    // The cancelled stream generated far fewer than its 3500 tokens (the holder adds 500).
    expect(after - before).toBeLessThan(500 + 1000);
    const text = await (await fetch(`${b.url}/metrics`)).text();
    expect(text).toMatch(/edgeclaw_requests_total\{model="tiny",outcome="cancelled"\} 1/);
    const next = await b.client.chat.completions.create({ model: "tiny", messages: user("after"), max_tokens: 3 });
    expect(next.usage!.completion_tokens).toBe(3);
  });
});
