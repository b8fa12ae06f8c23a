// Turns a model source (a .gguf path or an hf: URI) into a local file. An hf: model is downloaded
// once into the cache directory with a progress bar; when it cannot be (offline, hub unreachable),
// the server still starts, on the generated tiny model, and says so plainly.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { resolveModelFile } from "node-llama-cpp";
import { writeTinyModel } from "./tiny-model.ts";

/** A small instruct model, used when MODEL is not set. */
export const DEFAULT_MODEL = "hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf";
export const TINY_MODEL_ID = "edgeclaw-tiny";
const DOWNLOAD_TIMEOUT_MS = 30 * 60_000;

export type ResolvedSource = { path: string; fellBack: boolean };

/** The id a model is served under when none is given: its file name without .gguf. */
export function defaultModelId(source: string): string {
  return basename(source.replace(/^hf:/, "")).replace(/\.gguf$/i, "").replace(/:/g, "-");
}

export async function resolveModelSource(source: string, cacheDir: string, opts: { fallBackToTiny: boolean }): Promise<ResolvedSource> {
  if (!source.startsWith("hf:")) return { path: resolve(source), fellBack: false };
  await mkdir(cacheDir, { recursive: true });
  try {
    const path = await resolveModelFile(source, {
      directory: cacheDir,
      cli: process.stderr.isTTY === true,
      signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
    });
    return { path, fellBack: false };
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
