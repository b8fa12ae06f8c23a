// Several models, hot load/replace/unload through the admin API, and bad model files.
import { copyFile, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeGguf } from "../src/gguf/writer.ts";
import { startBackend, tinyModel, user, waitFor, workDir, type Backend } from "./helpers.ts";

const TOKEN = "admin-secret-0123456789";
const admin = (b: Backend, method: string, path: string, body?: unknown) =>
  fetch(`${b.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

/** A GGUF with llama metadata but no llama.feed_forward_length: llama.cpp asserts and kills the process on it. */
async function ggufMissingKeys(path: string) {
  await writeGguf(
    path,
    {
      "general.architecture": { type: "string", value: "llama" },
      "llama.context_length": { type: "u32", value: 128 },
      "llama.embedding_length": { type: "u32", value: 8 },
      "llama.block_count": { type: "u32", value: 1 },
      "tokenizer.ggml.model": { type: "string", value: "llama" },
      "tokenizer.ggml.tokens": { type: "string[]", value: ["a", "b"] },
    },
    [{ name: "token_embd.weight", dims: [8, 2], data: new Float32Array(16) }],
  );
  return path;
}

async function badFiles() {
  const notGguf = join(workDir, "not-a-model.gguf");
  await writeFile(notGguf, "this is plainly not a model file, just text long enough");
  const badVersion = join(workDir, "bad-version.gguf");
  const bytes = await readFile(await tinyModel("never"));
  bytes.writeUInt32LE(99, 4);
  await writeFile(badVersion, bytes);
  const truncated = join(workDir, "truncated.gguf");
  await copyFile(await tinyModel("never"), truncated);
  await truncate(truncated, 64 * 1024);
  const missing = await ggufMissingKeys(join(workDir, "missing-keys.gguf"));
  return { notGguf, badVersion, truncated, missing };
}

describe("MODELS_CONFIG with several models and one bad file", () => {
  let b: Backend;
  beforeAll(async () => {
    const config = join(workDir, "models.json");
    await copyFile(await tinyModel("never"), join(workDir, "relative.gguf"));
    const { missing } = await badFiles();
    await writeFile(
      config,
      JSON.stringify({
        models: [
          { id: "long", path: "relative.gguf", contextSize: 512, slots: 2 },
          { id: "broken", path: missing },
          { id: "short", path: await tinyModel("always"), slots: 1, gpuLayers: 0 },
        ],
      }),
    );
    b = await startBackend({ MODELS_CONFIG: config, ADMIN_TOKEN: TOKEN, MODELS_DIR: workDir });
  });
  afterAll(() => b?.close());

  it("serves every good model and skips the bad one", async () => {
    expect((await b.client.models.list()).data.map((m) => m.id).sort()).toEqual(["long", "short"]);
    const ready = (await (await fetch(`${b.url}/health/ready`)).json()) as { models: { id: string; slots: number }[] };
    expect(ready.models).toEqual(expect.arrayContaining([expect.objectContaining({ id: "long", slots: 2 }), expect.objectContaining({ id: "short", slots: 1 })]));
    const long = await b.client.chat.completions.create({ model: "long", messages: user("a"), max_tokens: 9 });
    const short = await b.client.chat.completions.create({ model: "short", messages: user("a"), max_tokens: 9 });
    expect([long.choices[0]!.finish_reason, short.choices[0]!.finish_reason]).toEqual(["length", "stop"]);
    const listed = (await (await admin(b, "GET", "/models")).json()) as { data: { id: string; context_size: number }[] };
    expect(listed.data.find((m) => m.id === "long")!.context_size).toBe(512);
  });

  it("refuses each kind of bad file with a clear error while serving continues", async () => {
    const files = await badFiles();
    const expected: Record<keyof typeof files, RegExp> = {
      notGguf: /bad magic/,
      badVersion: /unsupported GGUF version 99/,
      truncated: /past the end of the file/,
      missing: /missing required key\(s\) llama\.attention\.head_count, llama\.feed_forward_length/,
    };
    const load = b.client.chat.completions.create({ model: "long", messages: user("busy"), max_tokens: 300 });
    for (const [name, path] of Object.entries(files) as [keyof typeof files, string][]) {
      const res = await admin(b, "PUT", "/models/long", { path });
      expect(res.status).toBe(422);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe("invalid_model_file");
      expect(err.message).toMatch(expected[name]);
    }
    expect((await load).usage!.completion_tokens).toBe(300);
    const after = await b.client.chat.completions.create({ model: "long", messages: user("still here"), max_tokens: 5 });
    expect(after.usage!.completion_tokens).toBe(5);
  });

  it("loads a new model and unloads it without a restart", async () => {
    const put = await admin(b, "PUT", "/models/extra", { path: await tinyModel("never", 7), slots: 1 });
    expect(put.status).toBe(201);
    expect(((await put.json()) as { replaced: boolean }).replaced).toBe(false);
    expect((await b.client.models.list()).data.map((m) => m.id)).toContain("extra");
    const r = await b.client.chat.completions.create({ model: "extra", messages: user("x"), max_tokens: 4 });
    expect(r.model).toBe("extra");
    expect((await admin(b, "DELETE", "/models/extra")).status).toBe(200);
    expect((await admin(b, "DELETE", "/models/extra")).status).toBe(404);
    const gone = await fetch(`${b.base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "extra", messages: user("x") }) });
    expect(gone.status).toBe(404);
    await waitFor(() => b.registry.all().length === 2, 5_000, "unloaded model freed");
  });
});

describe("hot swap under continuous load", () => {
  let b: Backend;
  beforeAll(async () => {
    b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "chat", SLOTS: "3", ADMIN_TOKEN: TOKEN, MODELS_DIR: workDir });
  });
  afterAll(() => b?.close());

  it("switches new requests to the new model, finishes in-flight ones on the old, and fails none", async () => {
    let stop = false;
    const failures: unknown[] = [];
    const outcomes: { startedAfterSwap: number; finish: string | null; tokens: number }[] = [];
    let swaps = 0;
    const worker = async (i: number) => {
      while (!stop) {
        const startedAfterSwap = swaps;
        try {
          if (i % 2) {
            const r = await b.client.chat.completions.create({ model: "chat", messages: user(`w${i}`), max_tokens: 20 });
            outcomes.push({ startedAfterSwap, finish: r.choices[0]!.finish_reason, tokens: r.usage!.completion_tokens });
          } else {
            const s = await b.client.chat.completions.create({ model: "chat", messages: user(`w${i}`), max_tokens: 20, stream: true, stream_options: { include_usage: true } });
            let finish: string | null = null;
            let tokens = 0;
            for await (const c of s) {
              finish = c.choices[0]?.finish_reason ?? finish;
              tokens = c.usage?.completion_tokens ?? tokens;
            }
            outcomes.push({ startedAfterSwap, finish, tokens });
          }
        } catch (e) {
          failures.push(e);
        }
      }
    };
    const workers = [0, 1, 2, 3, 4].map(worker);
    // A long answer already running on the old model when the swap lands.
    const inFlight = b.client.chat.completions.create({ model: "chat", messages: user("long one"), max_tokens: 1500 });
    await waitFor(() => outcomes.length >= 10, 20_000, "traffic before the swap");

    const swap = async (eos: "never" | "always") => {
      const res = await admin(b, "PUT", "/models/chat", { path: await tinyModel(eos) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { replaced: boolean }).replaced).toBe(true);
      swaps++;
      const mark = outcomes.length;
      await waitFor(() => outcomes.length >= mark + 10, 20_000, "traffic after the swap");
    };
    await swap("always");
    const old = await inFlight;
    await swap("never");
    await swap("always");
    stop = true;
    await Promise.all(workers);

    expect(failures).toEqual([]);
    expect(old.choices[0]!.finish_reason).toBe("length");
    expect(old.usage!.completion_tokens).toBe(1500);
    // Requests that started after a swap to the always-EOS model end at once.
    const afterAlways = outcomes.filter((o) => o.startedAfterSwap === 3);
    expect(afterAlways.length).toBeGreaterThan(0);
    expect(afterAlways.every((o) => o.finish === "stop" && o.tokens <= 1)).toBe(true);
    const onNever = outcomes.filter((o) => o.startedAfterSwap === 2);
    expect(onNever.every((o) => o.finish === "length" && o.tokens === 20)).toBe(true);
    await waitFor(() => b.registry.all().length === 1, 5_000, "replaced models freed");
  });
});
