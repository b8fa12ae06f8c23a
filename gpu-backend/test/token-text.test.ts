// Token text when a character is spread over several tokens: a generated model that answers "€"
// (E2 82 AC) over and over, one byte-fallback token per byte. Logprobs carry each token's exact
// bytes; the text grows by whole characters (the token completing "€" carries it, the two before
// it carry ""); and each token is detokenized on its own, never the whole answer again.
import { join } from "node:path";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLlama } from "../src/engine/llama.ts";
import { runTokenLoop } from "../src/engine/token-loop.ts";
import { completeLength, TokenBytes, Utf8Text } from "../src/engine/token-text.ts";
import { writeTinyModel } from "../src/models/tiny-model.ts";
import { startBackend, user, workDir, type Backend } from "./helpers.ts";

const EURO = [0xe2, 0x82, 0xac];
let path: string;
let b: Backend;
beforeAll(async () => {
  path = join(workDir, "loop-euro.gguf");
  await writeTinyModel(path, { eos: "never", loop: "€" });
  b = await startBackend({ MODEL: path, MODEL_ID: "euro", CONTEXT_SIZE: "512" });
});
afterAll(() => b?.close());

type Entry = { token: string; logprob: number; bytes: number[] | null; top_logprobs: { token: string; bytes: number[] | null; logprob: number }[] };

describe("logprobs of characters spread over tokens", () => {
  it("chat: each token's exact bytes, the completing token carries the character, tokens join to the answer", async () => {
    const r = await b.client.chat.completions.create({ model: "euro", messages: user("euro"), max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2 });
    const choice = r.choices[0]!;
    expect(choice.message.content).toBe("€€");
    const content = choice.logprobs!.content! as Entry[];
    expect(content.map((t) => t.bytes)).toEqual([[0xe2], [0x82], [0xac], [0xe2], [0x82], [0xac]]);
    expect(content.map((t) => t.token)).toEqual(["", "", "€", "", "", "€"]);
    expect(content.some((t) => t.token.includes("\uFFFD"))).toBe(false);
    expect(Buffer.from(content.flatMap((t) => t.bytes!))).toEqual(Buffer.from("€€"));
    for (const t of content) {
      // The chosen token leads its alternatives, with the same text and bytes.
      expect(t.top_logprobs[0]).toEqual({ token: t.token, bytes: t.bytes, logprob: t.logprob });
      expect(t.top_logprobs[1]!.bytes!.length).toBeGreaterThan(0);
    }
    // The same answer as the path without logprobs (LlamaChat's own detokenization).
    const plain = await b.client.chat.completions.create({ model: "euro", messages: user("euro"), max_tokens: 6, temperature: 0 });
    expect(plain.choices[0]!.message.content).toBe("€€");
  });

  it("chat stream: never a replacement character, and each chunk's logprobs spell its text", async () => {
    const stream = await b.client.chat.completions.create({ model: "euro", messages: user("euro"), max_tokens: 9, temperature: 0, logprobs: true, stream: true });
    let text = "";
    const entries: Entry[] = [];
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content ?? "";
      const lp = (chunk.choices[0]?.logprobs?.content ?? []) as Entry[];
      expect(lp.map((t) => t.token).join("")).toBe(delta);
      text += delta;
      entries.push(...lp);
    }
    expect(text).toBe("€€€");
    expect(entries.flatMap((t) => t.bytes!)).toEqual([...EURO, ...EURO, ...EURO]);
  });

  it("an answer cut inside a character ends with one U+FFFD, on the last token", async () => {
    const r = await b.client.chat.completions.create({ model: "euro", messages: user("euro"), max_tokens: 4, temperature: 0, logprobs: true });
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(r.choices[0]!.message.content).toBe("€\uFFFD");
    const content = r.choices[0]!.logprobs!.content! as Entry[];
    expect(content.map((t) => t.token)).toEqual(["", "", "€", "\uFFFD"]);
    expect(content.at(-1)!.bytes).toEqual([0xe2]);
  });

  it("/v1/completions: legacy tokens and text offsets by whole characters", async () => {
    const res = await fetch(`${b.base}/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "euro", prompt: "x", max_tokens: 6, temperature: 0, logprobs: 1 }) });
    const body = (await res.json()) as { choices: { text: string; logprobs: { tokens: string[]; text_offset: number[]; top_logprobs: Record<string, number>[] } }[] };
    const choice = body.choices[0]!;
    expect(choice.text).toBe("€€");
    expect(choice.logprobs.tokens).toEqual(["", "", "€", "", "", "€"]);
    expect(choice.logprobs.text_offset).toEqual([0, 0, 0, 1, 1, 1]);
  });
});

describe("token loop", () => {
  let llama: Llama;
  let model: LlamaModel;
  beforeAll(async () => {
    llama = await createLlama("cpu", 1);
    model = await llama.loadModel({ modelPath: path });
  });
  afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
  });

  it("detokenizes each token once with a few tokens of context, not the answer so far (linear, not quadratic)", async () => {
    let detokenized = 0;
    const counting = new Proxy(model, {
      get(target, prop) {
        if (prop === "detokenize") {
          return (tokens: readonly Token[], special?: boolean, last?: readonly Token[]) => {
            detokenized += tokens.length + (last?.length ?? 0);
            return target.detokenize(tokens, special, last);
          };
        }
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const context = await model.createContext({ contextSize: 512, sequences: 1 });
    try {
      const n = 300;
      const r = await runTokenLoop(counting, context.getSequence(), model.tokenize("go"), { maxTokens: n, temperature: 0, stop: [], logprobs: 0 });
      expect(r.text).toBe("€".repeat(n / 3));
      expect(r.logprobs).toHaveLength(n);
      // Re-detokenizing the whole answer on every token reads n²/2 = 45,000 tokens here.
      expect(detokenized).toBeLessThanOrEqual(10 * n);
    } finally {
      await context.dispose();
    }
  });
});

describe("UTF-8 pieces", () => {
  it("finds an unfinished character at the end of a byte run", () => {
    const at = (...b: number[]) => completeLength(Uint8Array.from(b));
    expect(at()).toBe(0);
    expect(at(0x61)).toBe(1);
    expect(at(0x61, 0xe2)).toBe(1);
    expect(at(0x61, 0xe2, 0x82)).toBe(1);
    expect(at(0x61, 0xe2, 0x82, 0xac)).toBe(4);
    expect(at(0xf0, 0x9f, 0x98)).toBe(0);
    expect(at(0xf0, 0x9f, 0x98, 0x8a)).toBe(4);
    expect(at(0x82, 0xac)).toBe(2); // continuation bytes alone are invalid: decoded now
    expect(at(0xff)).toBe(1);
  });

  it("grows text by whole characters; peek leaves it unchanged", () => {
    const t = new Utf8Text();
    expect(t.push(Uint8Array.of(0xf0, 0x9f))).toBe("");
    expect(t.peek(Uint8Array.of(0x98, 0x8a))).toBe("😊");
    expect(t.peek(Uint8Array.of(0x98))).toBe("");
    expect(t.push(Uint8Array.of(0x98))).toBe("");
    expect(t.push(Uint8Array.of(0x8a, 0x21))).toBe("😊!");
    expect(t.push(Uint8Array.of(0xef, 0xbb, 0xbf))).toBe("\uFEFF"); // a generated U+FEFF is kept
    expect(t.push(Uint8Array.of(0xe2))).toBe("");
    expect(t.end()).toBe("\uFFFD");
    expect(t.end()).toBe("");
  });

  it("reads a byte-level BPE piece's bytes from the vocabulary (GPT-2 alphabet)", () => {
    // 'âĤ' is how byte-level BPE vocabularies write the bytes E2 82; llama.cpp hands such a
    // piece over as U+FFFD, so its bytes must come from the vocabulary.
    const fake = {
      detokenize: (tokens: readonly Token[]) => (tokens[0] === 0 ? "\uFFFD" : "Ġa"),
      fileInfo: { metadata: { tokenizer: { ggml: { model: "gpt2", tokens: ["âĤ", "Ġa"], token_type: [1, 1] } } } },
    } as unknown as LlamaModel;
    const bytes = new TokenBytes(fake);
    expect([...bytes.of(0 as Token, [])]).toEqual([0xe2, 0x82]);
  });
});
