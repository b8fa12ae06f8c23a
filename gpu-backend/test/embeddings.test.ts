// /v1/embeddings through the official client: shape, unit vectors, dimensions, determinism,
// base64 (little-endian float32, as OpenAI encodes it), batch order, token-array inputs, limits.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", CONTEXT_SIZE: "256" });
});
afterAll(() => b?.close());

const norm = (v: number[]) => Math.hypot(...v);
const post = (body: unknown) => fetch(`${b.base}/embeddings`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("/v1/embeddings", () => {
  it("embeds one string as a unit vector of the model's width, with usage", async () => {
    const r = await b.client.embeddings.create({ model: "tiny", input: "hello world", encoding_format: "float" });
    expect(r.object).toBe("list");
    expect(r.model).toBe("tiny");
    expect(r.data).toHaveLength(1);
    expect(r.data[0]!.object).toBe("embedding");
    expect(r.data[0]!.index).toBe(0);
    expect(r.data[0]!.embedding).toHaveLength(64); // the tiny model's embedding width
    expect(norm(r.data[0]!.embedding)).toBeCloseTo(1, 5);
    // One token per character in this tokenizer, plus the BOS token the embedding context puts first.
    expect(r.usage.prompt_tokens).toBe(12);
    expect(r.usage.total_tokens).toBe(12);
  });

  it("is deterministic, and different inputs give different vectors", async () => {
    const [a, c, d] = await Promise.all(["same text", "same text", "other text"].map((input) => b.client.embeddings.create({ model: "tiny", input, encoding_format: "float" })));
    expect(a!.data[0]!.embedding).toEqual(c!.data[0]!.embedding);
    expect(a!.data[0]!.embedding).not.toEqual(d!.data[0]!.embedding);
  });

  it("keeps batch order: each item equals the same input embedded alone", async () => {
    const inputs = ["first", "second one", "3", "the fourth input"];
    const batch = await b.client.embeddings.create({ model: "tiny", input: inputs, encoding_format: "float" });
    expect(batch.data.map((d) => d.index)).toEqual([0, 1, 2, 3]);
    for (const [i, input] of inputs.entries()) {
      const alone = await b.client.embeddings.create({ model: "tiny", input, encoding_format: "float" });
      expect(batch.data[i]!.embedding).toEqual(alone.data[0]!.embedding);
    }
    expect(batch.usage.prompt_tokens).toBe(inputs.join("").length + inputs.length);
  });

  it("truncates to dimensions and re-normalizes (the truncated prefix, scaled)", async () => {
    const full = (await b.client.embeddings.create({ model: "tiny", input: "matryoshka", encoding_format: "float" })).data[0]!.embedding;
    const short = (await b.client.embeddings.create({ model: "tiny", input: "matryoshka", dimensions: 16, encoding_format: "float" })).data[0]!.embedding;
    expect(short).toHaveLength(16);
    expect(norm(short)).toBeCloseTo(1, 5);
    const scale = norm(full.slice(0, 16));
    short.forEach((x, i) => expect(x).toBeCloseTo(full[i]! / scale, 5));
  });

  it("base64 decodes (little-endian float32) to the float vector", async () => {
    const raw = (await (await post({ model: "tiny", input: "bytes please", encoding_format: "base64" })).json()) as { data: { embedding: string }[] };
    const floats = (await b.client.embeddings.create({ model: "tiny", input: "bytes please", encoding_format: "float" })).data[0]!.embedding;
    const buf = Buffer.from(raw.data[0]!.embedding, "base64");
    expect(buf.length).toBe(64 * 4);
    const decoded = Array.from({ length: 64 }, (_, i) => buf.readFloatLE(i * 4));
    expect(decoded).toEqual(floats.map((x) => Math.fround(x)));
    // The SDK's default (base64 under the hood) decodes to the same vector.
    const viaSdk = await b.client.embeddings.create({ model: "tiny", input: "bytes please" });
    expect(viaSdk.data[0]!.embedding).toEqual(decoded);
  });

  it("takes token arrays, one or several, equal to embedding the text they spell", async () => {
    const tokens = ((await (await fetch(`${b.url}/tokenize`, { method: "POST", body: JSON.stringify({ model: "tiny", prompt: "abc" }) })).json()) as { tokens: number[] }).tokens;
    const text = await b.client.embeddings.create({ model: "tiny", input: "abc", encoding_format: "float" });
    const one = await b.client.embeddings.create({ model: "tiny", input: tokens, encoding_format: "float" });
    const many = await b.client.embeddings.create({ model: "tiny", input: [tokens, tokens.slice(0, 1)], encoding_format: "float" });
    expect(one.data[0]!.embedding).toEqual(text.data[0]!.embedding);
    expect(many.data[0]!.embedding).toEqual(text.data[0]!.embedding);
    expect(many.data).toHaveLength(2);
    const first = await b.client.embeddings.create({ model: "tiny", input: tokens.slice(0, 1), encoding_format: "float" });
    expect(many.data[1]!.embedding).toEqual(first.data[0]!.embedding);
    expect(many.usage.prompt_tokens).toBe(one.usage.prompt_tokens + first.usage.prompt_tokens);
  });

  it.each([
    [{ model: "tiny", input: "" }, "input", 400],
    [{ model: "tiny", input: [] }, "input", 400],
    [{ model: "tiny", input: ["a", ""] }, "input[1]", 400],
    [{ model: "tiny", input: Array(257).fill("a") }, "input", 400],
    [{ model: "tiny", input: "x".repeat(300) }, "input", 400],
    [{ model: "tiny", input: ["ok", "x".repeat(300)] }, "input[1]", 400],
    [{ model: "tiny", input: [1, 2, 100000] }, "input", 400],
    [{ model: "tiny", input: [[1], [-1]] }, "input[1][0]", 400],
    [{ model: "tiny", input: [[1], [100000]] }, "input[1]", 400],
    [{ model: "tiny", input: "x", dimensions: 65 }, "dimensions", 400],
    [{ model: "tiny", input: "x", dimensions: 0 }, "dimensions", 400],
    [{ model: "tiny", input: "x", encoding_format: "hex" }, "encoding_format", 400],
    [{ model: "nope", input: "x" }, "model", 404],
  ])("%j answers %s %i", async (body, param, status) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    const err = ((await res.json()) as { error: { param: string; message: string } }).error;
    expect(err.param).toBe(param);
    expect(err.message.length).toBeGreaterThan(5);
  });

  it("refuses more than 32,768 tokens in one request", async () => {
    const res = await post({ model: "tiny", input: Array(256).fill("y".repeat(200)) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/at most 32768 per request/);
  });
});
