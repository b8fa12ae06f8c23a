// The grammar cache: a request's worth of tool schemas stays compiled (the old 64-entry cache,
// evicting in insertion order, was smaller than one request with 129 schemas, so every repeat
// compiled them all again), least recently used entries go first, and the size bound holds.
import type { Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { GrammarCache, grammarFor } from "../src/engine/grammars.ts";
import { createLlama } from "../src/engine/llama.ts";

let llama: Llama;
let compiled: ReturnType<typeof vi.spyOn>;
beforeAll(async () => {
  llama = await createLlama("cpu", 1);
  compiled = vi.spyOn(llama, "createGrammarForJsonSchema");
});
afterAll(() => llama?.dispose());

const schema = (name: string, extra = "") => ({ type: "object", properties: { [name]: { type: "string", description: extra } }, required: [name] });

describe("grammar cache", () => {
  it("keeps a request's worth of schemas: 129 compiled, asked again, compile nothing", async () => {
    const schemas = Array.from({ length: 129 }, (_, i) => schema(`request_${i}`));
    compiled.mockClear();
    const first = await Promise.all(schemas.map((s) => grammarFor(llama, s)));
    expect(compiled).toHaveBeenCalledTimes(129);
    const again = await Promise.all(schemas.map((s) => grammarFor(llama, structuredClone(s))));
    expect(compiled).toHaveBeenCalledTimes(129);
    again.forEach((g, i) => expect(g).toBe(first[i]));
  });

  it("evicts the least recently used entry, not the oldest", async () => {
    const cache = new GrammarCache({ maxEntries: 3, maxChars: 1e9 });
    const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => schema(`lru_${n}`));
    const ga = await cache.get(llama, a);
    await cache.get(llama, b);
    await cache.get(llama, c);
    expect(await cache.get(llama, a)).toBe(ga); // a is now the most recent
    await cache.get(llama, d); // evicts b
    expect(cache.size).toBe(3);
    compiled.mockClear();
    expect(await cache.get(llama, a)).toBe(ga);
    await cache.get(llama, c);
    expect(compiled).not.toHaveBeenCalled();
    await cache.get(llama, b);
    expect(compiled).toHaveBeenCalledTimes(1);
  });

  it("holds the size bound (schema and grammar text), evicting old entries for a large one", async () => {
    const small = await (async () => {
      const probe = new GrammarCache({ maxEntries: 10, maxChars: 1e9 });
      await probe.get(llama, schema("size_probe"));
      return probe.totalChars;
    })();
    const cache = new GrammarCache({ maxEntries: 100, maxChars: small * 4 });
    for (let i = 0; i < 10; i++) await cache.get(llama, schema(`size_${i}`));
    expect(cache.totalChars).toBeLessThanOrEqual(small * 4);
    expect(cache.size).toBeGreaterThanOrEqual(2);
    expect(cache.size).toBeLessThanOrEqual(4);
    // Larger than the whole bound: served, not kept, and everything else is gone for it.
    const huge = schema("size_huge", "x".repeat(small * 8));
    await expect(cache.get(llama, huge)).resolves.toBeDefined();
    expect(cache.totalChars).toBeLessThanOrEqual(small * 4);
  });

  it("does not keep a schema that fails to compile", async () => {
    const cache = new GrammarCache({ maxEntries: 10, maxChars: 1e9 });
    const bad = { enum: {} }; // node-llama-cpp throws on it
    compiled.mockClear();
    await expect(cache.get(llama, bad)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 0));
    expect(cache.size).toBe(0);
    expect(cache.totalChars).toBe(0);
    await expect(cache.get(llama, bad)).rejects.toThrow();
    expect(compiled).toHaveBeenCalledTimes(2);
  });
});
