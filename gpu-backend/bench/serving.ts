// Serving benchmark: aggregate tokens/s and time to first token at concurrency 1, 4 and 8, through
// HTTP (the server in its own process, streamed SSE) against node-llama-cpp called in-process on the
// same model with the same slots and threads, in the same run. Writes bench-results/serving.json.
//
//   npm run bench -w gpu-backend
//   BENCH_MODEL=/models/x.gguf GPU=cuda npm run bench -w gpu-backend   (a real model on a GPU)
//
// Env: BENCH_MODEL (else a generated model of BENCH_DIM x BENCH_LAYERS), GPU (cpu|cuda), THREADS,
// BENCH_MAX_TOKENS (per request), BENCH_REQUESTS (per client per round), BENCH_ROUNDS.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, setPriority, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LlamaChat, resolveChatWrapper, type ChatHistoryItem } from "node-llama-cpp";
import { createLlama, type GpuMode } from "../src/engine/llama.ts";
import { writeTinyModel } from "../src/models/tiny-model.ts";

const env = process.env;
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? "1,4,8").split(",").map(Number);
const SLOTS = Math.max(...CONCURRENCY);
const GPU = (env.GPU ?? "cpu") as GpuMode;
const THREADS = Number(env.THREADS ?? Math.max(1, availableParallelism() - 1));
const MAX_TOKENS = Number(env.BENCH_MAX_TOKENS ?? 128);
const REQUESTS = Number(env.BENCH_REQUESTS ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONTEXT = 1024;
const PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle.";

type Sample = { tokens: number; ttftMs: number };
type Round = { tokensPerS: number; samples: Sample[] };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const median = (xs: number[]) => pct(xs, 50);
const round2 = (x: number) => Math.round(x * 100) / 100;

/** C clients, each sending REQUESTS requests back to back; aggregate tokens over wall time. */
async function measure(concurrency: number, one: () => Promise<Sample>): Promise<Round> {
  const started = performance.now();
  const samples = (await Promise.all(Array.from({ length: concurrency }, async () => {
    const mine: Sample[] = [];
    for (let i = 0; i < REQUESTS; i++) mine.push(await one());
    return mine;
  }))).flat();
  const seconds = (performance.now() - started) / 1000;
  if (process.env.BENCH_VERBOSE) console.log(concurrency, samples.map((s) => `${s.tokens}t/${s.ttftMs.toFixed(0)}ms`).join(" "));
  return { tokensPerS: samples.reduce((n, s) => n + s.tokens, 0) / seconds, samples };
}

/**
 * During HTTP rounds this process is only the load generator: it runs at a lower CPU priority so
 * that, on a small machine, it does not take CPU from the server it measures (a load generator on
 * its own machine would not). Needs no privilege to lower; restoring needs root, else it stays low.
 */
async function asLoadGenerator<T>(f: () => Promise<T>): Promise<T> {
  const set = (p: number) => { try { setPriority(p); } catch { /* not permitted: measure anyway */ } };
  set(10);
  try {
    return await f();
  } finally {
    set(0);
  }
}

type Engine = { one: () => Promise<Sample>; close: () => Promise<void> };

async function inProcess(modelPath: string): Promise<Engine> {
  const llama = await createLlama(GPU, THREADS);
  const model = await llama.loadModel({ modelPath, gpuLayers: GPU === "cuda" ? "max" : 0 });
  const context = await model.createContext({ sequences: SLOTS, contextSize: CONTEXT, threads: THREADS });
  const wrapper = resolveChatWrapper(model);
  const free = Array.from({ length: SLOTS }, () => context.getSequence());
  const history: ChatHistoryItem[] = [{ type: "user", text: PROMPT }, { type: "model", response: [] }];
  const one = async (): Promise<Sample> => {
    const seq = free.pop()!;
    const chat = new LlamaChat({ contextSequence: seq, chatWrapper: wrapper, autoDisposeSequence: false });
    const t0 = performance.now();
    let first = 0;
    const before = seq.tokenMeter.usedOutputTokens;
    await chat.generateResponse(history, { maxTokens: MAX_TOKENS, temperature: 0.8, repeatPenalty: false, onToken: () => { first ||= performance.now(); } });
    const tokens = seq.tokenMeter.usedOutputTokens - before;
    chat.dispose({ disposeSequence: false });
    free.push(seq);
    return { tokens, ttftMs: first - t0 };
  };
  const close = async () => {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  };
  return { one, close };
}

async function overHttp(modelPath: string): Promise<Engine> {
  const port = 18_000 + Math.floor(Math.random() * 2000);
  const server = spawn(process.execPath, [resolve(import.meta.dirname, "../src/main.ts")], {
    env: { ...env, MODEL: modelPath, MODEL_ID: "bench", PORT: String(port), SLOTS: String(SLOTS), THREADS: String(THREADS), GPU, CONTEXT_SIZE: String(CONTEXT), GPU_LAYERS: GPU === "cuda" ? "max" : "0" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const base = `http://127.0.0.1:${port}`;
  const close = async () => {
    server.kill("SIGINT");
    await new Promise((r) => server.once("exit", r));
  };
  try {
    for (let i = 0; ; i++) {
      if (await fetch(`${base}/health/ready`).then((r) => r.ok, () => false)) break;
      if (i > 600) throw new Error("server did not become ready");
      await new Promise((r) => setTimeout(r, 100));
    }
    const body = JSON.stringify({ model: "bench", messages: [{ role: "user", content: PROMPT }], max_tokens: MAX_TOKENS, temperature: 0.8, stream: true, stream_options: { include_usage: true } });
    const one = async (): Promise<Sample> => {
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      let first = 0;
      let tail = "";
      const decoder = new TextDecoder();
      for await (const bytes of res.body) {
        const text = decoder.decode(bytes, { stream: true });
        if (!first && /"delta":\{"content"/.test(text)) first = performance.now();
        tail = (tail + text).slice(-600);
      }
      const usage = /"completion_tokens":(\d+)/.exec(tail);
      if (!usage) throw new Error("no usage chunk");
      return { tokens: Number(usage[1]), ttftMs: first - t0 };
    };
    return { one, close };
  } catch (e) {
    await close();
    throw e;
  }
}

const work = await mkdtemp(join(tmpdir(), "gpu-backend-bench-"));
try {
  const dim = Number(env.BENCH_DIM ?? 256);
  const layers = Number(env.BENCH_LAYERS ?? 4);
  const modelPath = env.BENCH_MODEL ?? join(work, "bench.gguf");
  if (!env.BENCH_MODEL) await writeTinyModel(modelPath, { eos: "never", dim, layers, heads: 8, contextLength: CONTEXT });
  const sizeMb = (await stat(modelPath)).size / 2 ** 20;
  console.log(`model ${env.BENCH_MODEL ?? `generated dim=${dim} layers=${layers}`} (${sizeMb.toFixed(1)} MiB), GPU=${GPU}, THREADS=${THREADS}, SLOTS=${SLOTS}, ${MAX_TOKENS} tokens x ${REQUESTS} requests per client x ${ROUNDS} rounds`);

  // Both engines stay up and their rounds alternate, so machine noise falls on both alike.
  const engines = { local: await inProcess(modelPath), http: await overHttp(modelPath) };
  const local = new Map<number, Round[]>();
  const http = new Map<number, Round[]>();
  try {
    await measure(1, engines.local.one); // warm-up
    await measure(1, engines.http.one);
    for (const c of CONCURRENCY) {
      local.set(c, []);
      http.set(c, []);
      for (let r = 0; r < ROUNDS; r++) {
        local.get(c)!.push(await measure(c, engines.local.one));
        http.get(c)!.push(await asLoadGenerator(() => measure(c, engines.http.one)));
      }
    }
  } finally {
    await engines.http.close();
    await engines.local.close();
  }
  const rows = CONCURRENCY.map((c) => {
    const tps = (rounds: Round[]) => median(rounds.map((r) => r.tokensPerS));
    const ttfts = (rounds: Round[]) => rounds.flatMap((r) => r.samples.map((s) => s.ttftMs));
    const h = http.get(c)!;
    const l = local.get(c)!;
    return {
      concurrency: c,
      http_tokens_per_s: round2(tps(h)),
      inprocess_tokens_per_s: round2(tps(l)),
      ratio: round2(tps(h) / tps(l)),
      http_ttft_p50_ms: round2(pct(ttfts(h), 50)),
      http_ttft_p99_ms: round2(pct(ttfts(h), 99)),
      inprocess_ttft_p50_ms: round2(pct(ttfts(l), 50)),
      inprocess_ttft_p99_ms: round2(pct(ttfts(l), 99)),
    };
  });
  console.table(rows);
  const result = {
    benchmark: "gpu-backend serving: HTTP (SSE, separate process) vs node-llama-cpp in-process, same model, same run",
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), gpu: GPU === "cuda" ? (env.GPU_NAME ?? "cuda") : "none (CPU)" },
    model: { source: env.BENCH_MODEL ?? `generated random-weight llama, dim ${dim}, ${layers} layers`, size_mib: round2(sizeMb) },
    settings: { gpu: GPU, threads: THREADS, slots: SLOTS, context: CONTEXT, max_tokens: MAX_TOKENS, requests_per_client: REQUESTS, rounds: ROUNDS },
    results: rows,
    target: "http_tokens_per_s >= 0.9 x inprocess_tokens_per_s at every concurrency",
    target_met: rows.every((r) => r.ratio >= 0.9),
  };
  const out = resolve(import.meta.dirname, "../bench-results");
  await mkdir(out, { recursive: true });
  await writeFile(join(out, env.BENCH_OUT ?? "serving.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${join(out, env.BENCH_OUT ?? "serving.json")}; target ${result.target_met ? "met" : "NOT met"}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
