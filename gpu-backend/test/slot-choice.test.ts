// Which slot a request gets (LoadedModel.acquire): the longest reusable prefix when nothing runs,
// and a slot that needs no erasing while others generate (see the comment on acquire()).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Llama } from "node-llama-cpp";
import { createLlama } from "../src/engine/llama.ts";
import { LoadedModel } from "../src/engine/loaded-model.ts";
import { tinyModel } from "./helpers.ts";

let llama: Llama;
let model: LoadedModel;
const params = { temperature: 0, stop: [] };
const ask = (content: string) => [{ role: "user" as const, content }];

beforeAll(async () => {
  llama = await createLlama("cpu", 1);
  model = await LoadedModel.load(llama, { id: "m", path: await tinyModel("never") }, { contextSize: 512, slots: 3, queueLimit: 4, threads: 1 });
});
afterAll(async () => {
  await model?.retire();
  await llama?.dispose();
});

async function answerOn(content: string) {
  const prompt = model.prepare(ask(content), 8);
  const slot = await model.acquire(prompt);
  await model.generate(slot, prompt, { messages: ask(content), ...params });
  return slot;
}

describe("slot choice", () => {
  it("on an idle server, hands out the slot holding the longest common prefix", async () => {
    const first = await answerOn("a conversation about lighthouses");
    model.release(first);
    const other = await answerOn("something else entirely");
    model.release(other);
    const again = model.prepare(ask("a conversation about lighthouses"), 8);
    const slot = await model.acquire(again);
    expect(slot).toBe(first);
    expect(slot.nextTokenIndex).toBeGreaterThan(0); // kept its cells for reuse
    model.release(slot);
  });

  it("while another request runs, prefers a slot that needs no erasing", async () => {
    const runningPrompt = model.prepare(ask("busy"), 400);
    const busy = await model.acquire(runningPrompt);
    const running = model.generate(busy, runningPrompt, { messages: ask("busy"), ...params });
    const prompt = model.prepare(ask("a brand new question"), 8);
    const slot = await model.acquire(prompt);
    const cached = slot.contextTokens;
    // Nothing in it, or only a prefix of this prompt: no cells to erase behind the batch lock.
    expect(cached).toEqual(prompt.tokens.slice(0, cached.length));
    model.release(slot);
    await running;
    model.release(busy);
  });
});
