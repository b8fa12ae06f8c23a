// logprobs / top_logprobs on chat completions, in OpenAI's shape, streamed and not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", CONTEXT_SIZE: "512" });
});
afterAll(() => b?.close());

describe("chat logprobs", () => {
  it("returns one entry per token, spelling the answer, with top alternatives led by the chosen token (greedy)", async () => {
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("probabilities"), max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 });
    const choice = r.choices[0]!;
    const content = choice.logprobs!.content!;
    expect(content).toHaveLength(8);
    expect(content.map((t) => t.token).join("")).toBe(choice.message.content);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.bytes).toEqual([...Buffer.from(t.token, "utf8")]);
      expect(t.top_logprobs).toHaveLength(3);
      expect(t.top_logprobs[0]!.token).toBe(t.token);
      expect(t.top_logprobs[0]!.logprob).toBeCloseTo(t.logprob, 6);
      // Sorted, most likely first, and a real distribution (the three add up to at most 1).
      expect(t.top_logprobs[1]!.logprob).toBeLessThanOrEqual(t.top_logprobs[0]!.logprob);
      expect(t.top_logprobs.reduce((s, a) => s + Math.exp(a.logprob), 0)).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it("without top_logprobs gives the chosen tokens only; without logprobs gives null", async () => {
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("x"), max_tokens: 4, temperature: 0, logprobs: true });
    expect(r.choices[0]!.logprobs!.content!.every((t) => t.top_logprobs.length === 0)).toBe(true);
    const plain = await b.client.chat.completions.create({ model: "tiny", messages: user("x"), max_tokens: 4, temperature: 0 });
    expect(plain.choices[0]!.logprobs).toBeNull();
    // The same greedy answer, whichever path generated it.
    expect(r.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
  });

  it("streams logprobs with the content deltas, adding up to the non-stream answer", async () => {
    const ask = { model: "tiny", messages: user("stream logprobs"), max_tokens: 10, temperature: 0.9, seed: 2, logprobs: true, top_logprobs: 2 } as const;
    const whole = await b.client.chat.completions.create(ask);
    const stream = await b.client.chat.completions.create({ ...ask, stream: true });
    const entries = [];
    let text = "";
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      entries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    const expected = whole.choices[0]!.logprobs!.content!;
    expect(entries.map((e) => e.token)).toEqual(expected.map((e) => e.token));
    // Equal up to float noise: the two runs evaluate the prompt in different batches (KV prefix reuse).
    entries.forEach((e, i) => expect(e.logprob).toBeCloseTo(expected[i]!.logprob, 4));
  });

  it("stops at a stop string and drops the stop string's tokens", async () => {
    const full = (await b.client.chat.completions.create({ model: "tiny", messages: user("stop"), max_tokens: 30, temperature: 0, logprobs: true })).choices[0]!;
    const text = full.message.content!;
    const stop = [...text].find((ch, i) => i >= 3 && ch.trim() !== "")!;
    const r = (await b.client.chat.completions.create({ model: "tiny", messages: user("stop"), max_tokens: 30, temperature: 0, logprobs: true, stop })).choices[0]!;
    expect(r.finish_reason).toBe("stop");
    expect(r.message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(r.logprobs!.content!.map((t) => t.token).join("")).toBe(r.message.content);
  });

  it("refuses top_logprobs without logprobs, and out of range", async () => {
    for (const extra of [{ top_logprobs: 2 }, { logprobs: true, top_logprobs: 21 }]) {
      const res = await fetch(`${b.base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "tiny", messages: user("x"), ...extra }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { param: string } }).error.param).toBe("top_logprobs");
    }
  });
});
