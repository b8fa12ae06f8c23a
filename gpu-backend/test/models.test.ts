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

  // Which load served a request is the server's word (system_fingerprint, new for every load), not
  // the client's: a request sent just before a swap may reach the server after it. The client-side
  // count of finished swaps only bounds it from below: a request sent after a swap's PUT answered
  // can never be served by a model that swap replaced.
  // Nothing here asserts a duration; the generous timeout is only a guard for a very busy machine.
  it("switches new requests to the new model, finishes in-flight ones on the old, and fails none", { timeout: 240_000 }, async () => {
    let stop = false;
    const failures: unknown[] = [];
    const outcomes: { sentAfterSwaps: number; fingerprint: string; finish: string | null; tokens: number }[] = [];
    let swaps = 0;
    const worker = async (i: number) => {
      while (!stop) {
        const sentAfterSwaps = swaps;
        try {
          if (i % 2) {
            const r = await b.client.chat.completions.create({ model: "chat", messages: user(`w${i}`), max_tokens: 8 });
            outcomes.push({ sentAfterSwaps, fingerprint: r.system_fingerprint!, finish: r.choices[0]!.finish_reason, tokens: r.usage!.completion_tokens });
          } else {
            const s = await b.client.chat.completions.create({ model: "chat", messages: user(`w${i}`), max_tokens: 8, stream: true, stream_options: { include_usage: true } });
            let finish: string | null = null;
            let tokens = 0;
            const fingerprints = new Set<string>();
            for await (const c of s) {
              fingerprints.add(c.system_fingerprint!);
              finish = c.choices[0]?.finish_reason ?? finish;
              tokens = c.usage?.completion_tokens ?? tokens;
            }
            expect(fingerprints.size).toBe(1); // one stream, one model, even across a swap
            outcomes.push({ sentAfterSwaps, fingerprint: [...fingerprints][0]!, finish, tokens });
          }
        } catch (e) {
          failures.push(e);
        }
      }
    };
    const fingerprints = [b.registry.get("chat")!.fingerprint]; // loads in order: never, always, never, always
    const workers = [0, 1, 2, 3].map(worker);
    // A long answer admitted to the first model before any swap: a streamed response's headers
    // are sent only once the request holds a slot, so awaiting them is the server's confirmation.
    const inFlight = await b.client.chat.completions.create({ model: "chat", messages: user("long one"), max_tokens: 600, stream: true, stream_options: { include_usage: true } });
    const old = (async () => {
      const seen = { fingerprint: "", finish: null as string | null, tokens: 0 };
      for await (const c of inFlight) {
        seen.fingerprint = c.system_fingerprint!;
        seen.finish = c.choices[0]?.finish_reason ?? seen.finish;
        seen.tokens = c.usage?.completion_tokens ?? seen.tokens;
      }
      return seen;
    })();
    await waitFor(() => outcomes.length >= 6, 180_000, "traffic before the swap");

    const swap = async (eos: "never" | "always") => {
      const res = await admin(b, "PUT", "/models/chat", { path: await tinyModel(eos) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { replaced: boolean; model: { fingerprint: string } };
      expect(body.replaced).toBe(true);
      fingerprints.push(body.model.fingerprint);
      swaps++;
      const mark = outcomes.length;
      // At most one request per worker was sent before the swap: 8 more outcomes mean at least 4 sent after it.
      await waitFor(() => outcomes.length >= mark + 8, 180_000, "traffic after the swap");
    };
    await swap("always");
    await swap("never");
    await swap("always");
    stop = true;
    await Promise.all(workers);
    const oldResult = await old;

    expect(failures).toEqual([]);
    expect(new Set(fingerprints).size).toBe(4);
    // The long answer finished on the model it was admitted to, untouched by the swap.
    expect(oldResult).toEqual({ fingerprint: fingerprints[0], finish: "length", tokens: 600 });
    for (const o of outcomes) {
      const load = fingerprints.indexOf(o.fingerprint);
      expect(load).toBeGreaterThanOrEqual(o.sentAfterSwaps); // never served by a model replaced before it was sent
      // Loads 1 and 3 are the always-EOS model (ends at once), loads 0 and 2 the never-EOS one.
      if (load % 2) expect([o.finish, o.tokens <= 1]).toEqual(["stop", true]);
      else expect([o.finish, o.tokens]).toEqual(["length", 8]);
    }
    // The last two loads served requests sent after their swap.
    const served = fingerprints.map((f) => outcomes.filter((o) => o.fingerprint === f).length);
    expect(served[2]).toBeGreaterThanOrEqual(4);
    expect(served[3]).toBeGreaterThanOrEqual(4);
    await waitFor(() => b.registry.all().length === 1, 10_000, "replaced models freed");
  });
});
