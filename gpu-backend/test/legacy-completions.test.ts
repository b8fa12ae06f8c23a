// /v1/completions (raw prompts, legacy shapes) through the official client, vLLM's /tokenize and
// /detokenize, and the metrics under vLLM's names.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "2", CONTEXT_SIZE: "512" });
});
afterAll(() => b?.close());

const post = (path: string, body: unknown) => fetch(`${b.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

describe("/v1/completions", () => {
  it("answers a raw prompt with the legacy shape, usage and a length finish (default max_tokens 16)", async () => {
    const r = await b.client.completions.create({ model: "tiny", prompt: "Once upon a time", temperature: 0 });
    expect(r.object).toBe("text_completion");
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(r.usage!.completion_tokens).toBe(16);
    expect(r.choices[0]!.text.length).toBeGreaterThan(0);
    // No chat template: the prompt is counted as its own tokens (this tokenizer has one per character).
    expect(r.usage!.prompt_tokens).toBe((await (await post("/tokenize", { model: "tiny", prompt: "Once upon a time" })).json() as { count: number }).count);
  });

  it("streams text chunks that join to the non-stream answer, then a finish chunk and usage", async () => {
    const ask = { model: "tiny", prompt: "stream me", max_tokens: 20, temperature: 0.7, seed: 9 };
    const whole = await b.client.completions.create(ask);
    const stream = await b.client.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(whole.choices[0]!.text);
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean)).toEqual(["length"]);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(20);
  });

  it("honours stop, echo, seed and a token-array prompt", async () => {
    const base = await b.client.completions.create({ model: "tiny", prompt: "abc", max_tokens: 40, temperature: 0 });
    const text = base.choices[0]!.text;
    const stop = [...text].find((ch, i) => i >= 3 && ch.trim() !== "")!;
    const stopped = await b.client.completions.create({ model: "tiny", prompt: "abc", max_tokens: 40, temperature: 0, stop });
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
    expect(stopped.choices[0]!.text).toBe(text.slice(0, text.indexOf(stop)));
    const echoed = await b.client.completions.create({ model: "tiny", prompt: "abc", max_tokens: 5, temperature: 0, echo: true });
    expect(echoed.choices[0]!.text).toBe("abc" + text.slice(0, echoed.choices[0]!.text.length - 3));
    const tokens = ((await (await post("/tokenize", { model: "tiny", prompt: "abc" })).json()) as { tokens: number[] }).tokens;
    const byTokens = await b.client.completions.create({ model: "tiny", prompt: tokens, max_tokens: 40, temperature: 0 });
    expect(byTokens.choices[0]!.text).toBe(text);
    const seeded = async (seed: number) => (await b.client.completions.create({ model: "tiny", prompt: "x", max_tokens: 30, temperature: 1, seed })).choices[0]!.text;
    expect(await seeded(4)).toBe(await seeded(4));
    expect(await seeded(4)).not.toBe(await seeded(5));
  });

  it("returns legacy logprobs: parallel arrays, top alternatives, offsets into the text", async () => {
    const r = await b.client.completions.create({ model: "tiny", prompt: "log", max_tokens: 6, temperature: 0, logprobs: 3 });
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens).toHaveLength(6);
    expect(lp.tokens!.join("")).toBe(r.choices[0]!.text);
    expect(lp.token_logprobs!.every((x) => x <= 0 && x > -9999)).toBe(true);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 3)).toBe(true);
    // Greedy: the chosen token is the most likely one.
    lp.top_logprobs!.forEach((t, i) => expect(Math.max(...Object.values(t))).toBeCloseTo(lp.token_logprobs![i]!, 5));
    expect(lp.text_offset![0]).toBe(0);
  });

  it.each([
    [{ model: "tiny", prompt: "x", suffix: "y" }, "suffix", "unsupported_value"],
    [{ model: "tiny", prompt: "x", n: 2 }, "n", "unsupported_value"],
    [{ model: "tiny", prompt: ["a", "b"] }, "prompt", "invalid_value"],
    [{ model: "tiny", prompt: [1, 2, 99999] }, "prompt", "invalid_value"],
    [{ model: "tiny", prompt: "" }, "prompt", "invalid_value"],
    [{ model: "tiny", prompt: "x".repeat(600) }, "prompt", "context_length_exceeded"],
    [{ model: "tiny", prompt: "x", echo: true, logprobs: 1 }, "logprobs", "unsupported_value"],
    [{ model: "tiny", prompt: "x", max_tokens: 0 }, "max_tokens", "invalid_value"],
    [{ model: "nope", prompt: "x" }, "model", "model_not_found"],
  ])("%j answers an error naming %s", async (body, param, code) => {
    const res = await post("/v1/completions", body);
    expect(res.status).toBe(code === "model_not_found" ? 404 : 400);
    expect(((await res.json()) as { error: { param: string; code: string } }).error).toMatchObject({ param, code });
  });
});

describe("/tokenize and /detokenize (vLLM shapes)", () => {
  it("round-trips a prompt", async () => {
    const text = "Hello, tokenizer! <|im_start|>";
    const t = (await (await post("/tokenize", { model: "tiny", prompt: text })).json()) as { count: number; max_model_len: number; tokens: number[] };
    expect(t.count).toBe(t.tokens.length);
    expect(t.max_model_len).toBe(512);
    // The special-token text is one token (parsed as llama.cpp's and vLLM's servers do).
    expect(t.tokens.at(-1)).toBe(3);
    const d = (await (await post("/detokenize", { model: "tiny", tokens: t.tokens })).json()) as { prompt: string };
    expect(d.prompt).toBe(text);
  });

  it("renders messages with the chat template, as a chat request counts them", async () => {
    const messages = [{ role: "system", content: "be brief" }, { role: "user", content: "count me" }];
    const t = (await (await post("/tokenize", { model: "tiny", messages })).json()) as { count: number; tokens: number[] };
    const chat = await b.client.chat.completions.create({ model: "tiny", messages: messages as never, max_tokens: 1 });
    expect(t.count).toBe(chat.usage!.prompt_tokens);
    const d = (await (await post("/detokenize", { model: "tiny", tokens: t.tokens })).json()) as { prompt: string };
    // The template's text, special tokens included (this SentencePiece detokenizer spaces them out).
    expect(d.prompt.replace(/ /g, "")).toBe("<s><|im_start|>system\nbebrief<|im_end|>\n<|im_start|>user\ncountme<|im_end|>\n<|im_start|>assistant\n");
  });

  it.each([
    ["/tokenize", { model: "tiny" }, 400],
    ["/tokenize", { model: "tiny", prompt: 1 }, 400],
    ["/tokenize", { model: "tiny", prompt: "x", messages: [] }, 400],
    ["/tokenize", { model: "tiny", messages: [{ role: "tool", content: "x" }] }, 400],
    ["/tokenize", { model: "nope", prompt: "x" }, 404],
    ["/detokenize", { model: "tiny", tokens: [-1] }, 400],
    ["/detokenize", { model: "tiny", tokens: [100000] }, 400],
    ["/detokenize", { model: "tiny", tokens: "abc" }, 400],
    ["/detokenize", "{", 400],
  ])("%s %j answers %i with a JSON error", async (path, body, status) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { message: string } }).error.message.length).toBeGreaterThan(5);
  });
});

describe("metrics under vLLM's names", () => {
  it("exposes TTFT, TPOT, e2e histograms and token counters with a model_name label after a request", async () => {
    await b.client.completions.create({ model: "tiny", prompt: "metrics", max_tokens: 4 });
    const text = await (await fetch(`${b.url}/metrics`)).text();
    const value = (line: string) => Number(text.split("\n").find((l) => l.startsWith(line + " "))?.split(" ").at(-1));
    for (const h of ["vllm:time_to_first_token_seconds", "vllm:time_per_output_token_seconds", "vllm:e2e_request_latency_seconds"]) {
      expect(text).toContain(`# TYPE ${h} histogram`);
      expect(value(`${h}_count{model_name="tiny"}`)).toBeGreaterThan(0);
      expect(value(`${h}_bucket{model_name="tiny",le="+Inf"}`)).toBe(value(`${h}_count{model_name="tiny"}`));
    }
    expect(value('vllm:prompt_tokens_total{model_name="tiny"}')).toBeGreaterThan(0);
    expect(value('vllm:generation_tokens_total{model_name="tiny"}')).toBeGreaterThanOrEqual(4);
    // The edgeclaw_ names stay, with the same counts.
    expect(value('edgeclaw_generation_tokens_total{model="tiny"}')).toBe(value('vllm:generation_tokens_total{model_name="tiny"}'));
  });
});
