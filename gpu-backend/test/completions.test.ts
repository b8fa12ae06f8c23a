// The OpenAI wire format through the official client: answers, streams, usage, stop, seeds, JSON.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "2" });
});
afterAll(() => b?.close());

describe("chat completions", () => {
  it("lists the loaded model", async () => {
    const models = await b.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["tiny"]);
  });

  it("answers a non-stream request with usage and a length finish", async () => {
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("hello"), max_tokens: 12, temperature: 0 });
    expect(r.object).toBe("chat.completion");
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.message.role).toBe("assistant");
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(r.usage!.completion_tokens).toBe(12);
    expect(r.usage!.prompt_tokens).toBeGreaterThan(3);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 12);
  });

  it("honours max_completion_tokens over max_tokens", async () => {
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("hi"), max_tokens: 30, max_completion_tokens: 7, temperature: 0 });
    expect(r.usage!.completion_tokens).toBe(7);
  });

  it("streams a role chunk, content deltas, a finish chunk and a usage chunk that add up", async () => {
    const stream = await b.client.chat.completions.create({
      model: "tiny", messages: user("stream please"), max_tokens: 16, temperature: 0, seed: 3, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
    expect(finishes).toEqual(["length"]);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.completion_tokens).toBe(16);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    const streamed = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    const whole = await b.client.chat.completions.create({ model: "tiny", messages: user("stream please"), max_tokens: 16, temperature: 0, seed: 3 });
    expect(streamed).toBe(whole.choices[0]!.message.content);
    expect(streamed.length).toBeGreaterThan(0);
  });

  it("sends no usage chunk unless asked", async () => {
    const stream = await b.client.chat.completions.create({ model: "tiny", messages: user("x"), max_tokens: 3, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.choices.length === 1 && c.usage == null)).toBe(true);
  });

  it("is deterministic for a seeded request at temperature 0, and also for a seed at temperature 1", async () => {
    const ask = (temperature: number, seed: number) =>
      b.client.chat.completions.create({ model: "tiny", messages: user("determinism"), max_tokens: 40, temperature, seed }).then((r) => r.choices[0]!.message.content);
    const [a, c] = [await ask(0, 1), await ask(0, 1)];
    expect(a).toBe(c);
    const [d, e, f] = [await ask(1, 7), await ask(1, 7), await ask(1, 8)];
    expect(d).toBe(e);
    expect(f).not.toBe(d);
  });

  it("stops at a stop string, and cuts the text before it", async () => {
    const full = (await b.client.chat.completions.create({ model: "tiny", messages: user("stop test"), max_tokens: 60, temperature: 0 })).choices[0]!.message.content!;
    // Random weights, so pick the stop string from what this model really says.
    const chars = [...full];
    const at = chars.findIndex((ch, i) => i >= 5 && ch.length === 1 && ch !== "\uFFFD" && ch.trim() !== "");
    expect(at).toBeGreaterThan(0);
    const stop = chars[at]!;
    const before = chars.slice(0, chars.indexOf(stop)).join("");
    for (const s of [stop, [stop, "\u0000never"]]) {
      const r = await b.client.chat.completions.create({ model: "tiny", messages: user("stop test"), max_tokens: 60, temperature: 0, stop: s });
      const text = r.choices[0]!.message.content!;
      expect(r.choices[0]!.finish_reason).toBe("stop");
      expect(text).not.toContain(stop);
      expect(r.usage!.completion_tokens).toBeLessThan(60);
      // Random bytes: an incomplete UTF-8 sequence right before the stop string is dropped, so
      // compare up to it.
      expect(before.startsWith(text)).toBe(true);
      expect(text.length).toBeGreaterThanOrEqual(before.replace(/\uFFFD+$/, "").length);
    }
  });

  it("JSON mode yields parseable JSON (json_object and json_schema)", async () => {
    // json_object lets the model choose when to close: with this prompt the tiny model closes at once
    // (greedy, fixed weights); the schema case below constrains it completely.
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("x"), max_tokens: 200, temperature: 0, response_format: { type: "json_object" } });
    expect(r.choices[0]!.finish_reason).toBe("stop");
    expect(typeof JSON.parse(r.choices[0]!.message.content!)).toBe("object");
    const schema = { type: "object", properties: { ok: { type: "boolean" }, tag: { enum: ["a", "b"] } }, required: ["ok", "tag"] };
    const s = await b.client.chat.completions.create({
      model: "tiny", messages: user("json"), max_tokens: 200, temperature: 0,
      response_format: { type: "json_schema", json_schema: { name: "answer", schema } },
    });
    const value = JSON.parse(s.choices[0]!.message.content!);
    expect(typeof value.ok).toBe("boolean");
    expect(["a", "b"]).toContain(value.tag);
  });

  it("accepts content-part arrays, system and developer messages and earlier assistant turns", async () => {
    const r = await b.client.chat.completions.create({
      model: "tiny",
      max_tokens: 4,
      messages: [
        { role: "system", content: "be brief" },
        { role: "developer", content: "really" },
        { role: "user", content: [{ type: "text", text: "part one " }, { type: "text", text: "part two" }] },
        { role: "assistant", content: "earlier answer" },
        { role: "user", content: "again" },
      ],
    });
    expect(r.usage!.completion_tokens).toBe(4);
    const short = await b.client.chat.completions.create({ model: "tiny", max_tokens: 4, messages: user("again") });
    expect(r.usage!.prompt_tokens).toBeGreaterThan(short.usage!.prompt_tokens + 10);
  });
});

describe("finish reasons from the model itself", () => {
  let eos: Backend;
  beforeAll(async () => {
    eos = await startBackend({ MODEL: await tinyModel("always"), MODEL_ID: "eos" });
  });
  afterAll(() => eos?.close());

  it("finishes with stop when the model ends its turn", async () => {
    const r = await eos.client.chat.completions.create({ model: "eos", messages: user("hi"), max_tokens: 50 });
    expect(r.choices[0]!.finish_reason).toBe("stop");
    expect(r.usage!.completion_tokens).toBeLessThan(50);
  });
});
