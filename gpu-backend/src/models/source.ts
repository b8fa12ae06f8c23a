// Turns a model source (a .gguf path or an hf: URI) into a local file. An hf: model is downloaded
// once into the cache directory with a progress bar; when it cannot be (offline, hub unreachable),
// the server still starts, on the generated tiny model, and says so plainly.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { resolveModelFile } from "node-llama-cpp";
import { writeTinyModel } from "./tiny-model.ts";

/** A small instruct model, used when MODEL is not set. */
// The quantization-tag form resolves through one manifest request, which fails at once offline
// (the file-name form retries for minutes).
export const DEFAULT_MODEL = "hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M";
export const TINY_MODEL_ID = "edgeclaw-tiny";

export type ResolvedSource = { path: string; fellBack: boolean };

/** The id a model is served under when none is given: its file name without .gguf. */
export function defaultModelId(source: string): string {
  return basename(source.replace(/^hf:/, "")).replace(/\.gguf$/i, "").replace(/:/g, "-");
}

export type SourceOptions = {
  fallBackToTiny: boolean;
  /** A mirror of the Hugging Face hub (HF_ENDPOINT). */
  hubEndpoint?: string;
  /** Give up when the download makes no progress for this long (it retries unreachable hosts for minutes). */
  stallMs?: number;
};

/** Resolves (downloading if needed) an hf: URI, failing when no byte has arrived for `stallMs`. */
function download(source: string, cacheDir: string, opts: SourceOptions): Promise<string> {
  const abort = new AbortController();
  return new Promise<string>((resolvePath, reject) => {
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        abort.abort();
        reject(new Error(`no progress for ${Math.round((opts.stallMs ?? 0) / 1000)} s`));
      }, opts.stallMs ?? 30_000);
    };
    arm();
    resolveModelFile(source, {
      directory: cacheDir,
      cli: process.stderr.isTTY === true, // the progress bar, when a person is watching
      endpoints: opts.hubEndpoint ? { huggingFace: opts.hubEndpoint } : undefined,
      onProgress: arm,
      signal: abort.signal,
    }).then(resolvePath, reject).finally(() => clearTimeout(timer));
  });
}

export async function resolveModelSource(source: string, cacheDir: string, opts: SourceOptions): Promise<ResolvedSource> {
  if (!source.startsWith("hf:")) return { path: resolve(source), fellBack: false };
  await mkdir(cacheDir, { recursive: true });
  try {
    return { path: await download(source, cacheDir, opts), fellBack: false };
  } catch (e) {
    if (!opts.fallBackToTiny) throw e;
    const path = join(cacheDir, `${TINY_MODEL_ID}.gguf`);
    if (!existsSync(path)) await writeTinyModel(path);
    console.error(
      `[gpu-backend] Could not download ${source} (${e instanceof Error ? e.message : String(e)}).\n` +
        `[gpu-backend] FALLING BACK to the generated tiny test model ${path}: it has random weights and answers with random bytes.\n` +
        "[gpu-backend] Set MODEL to a local .gguf file, or run once with network access to download the model.",
    );
    return { path, fellBack: true };
  }
}
