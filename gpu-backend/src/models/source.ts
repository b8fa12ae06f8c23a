// Turns a model source (a .gguf path or an hf: URI) into a local file. An hf: model is downloaded
// once into the cache directory, with a progress bar on a terminal and progress lines otherwise
// (container logs). When it cannot be (offline, hub unreachable), start-up fails, unless the
// operator opted in to the generated tiny model (ALLOW_TINY_FALLBACK), which is then served as
// edgeclaw-tiny and never under the requested model's name.
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

/** Logs a line every 5 % or every 5 s, whichever comes first: a progress bar is noise in a log file. */
function progressLines(source: string): (status: { totalSize: number; downloadedSize: number }) => void {
  let lastAt = 0;
  let lastStep = -1;
  return ({ totalSize, downloadedSize }) => {
    const now = Date.now();
    const step = totalSize > 0 ? Math.floor((downloadedSize / totalSize) * 20) : -1;
    if (step === lastStep && now - lastAt < 5_000) return;
    lastAt = now;
    lastStep = step;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    const pct = totalSize > 0 ? `${((downloadedSize / totalSize) * 100).toFixed(0)}% ` : "";
    console.error(`[gpu-backend] downloading ${source}: ${pct}(${mib(downloadedSize)}${totalSize > 0 ? ` / ${mib(totalSize)}` : ""} MiB)`);
  };
}

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
    const tty = process.stderr.isTTY === true;
    const lines = tty ? undefined : progressLines(source);
    resolveModelFile(source, {
      directory: cacheDir,
      cli: tty, // the progress bar, when a person is watching
      endpoints: opts.hubEndpoint ? { huggingFace: opts.hubEndpoint } : undefined,
      onProgress: (status) => {
        arm();
        lines?.(status);
      },
      signal: abort.signal,
    }).then(resolvePath, reject).finally(() => clearTimeout(timer));
  });
}

/** A download that failed with no fallback; `reason` is the cause alone, `message` adds what to do at start-up. */
export class DownloadFailedError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export async function resolveModelSource(source: string, cacheDir: string, opts: SourceOptions): Promise<ResolvedSource> {
  if (!source.startsWith("hf:")) return { path: resolve(source), fellBack: false };
  await mkdir(cacheDir, { recursive: true });
  try {
    return { path: await download(source, cacheDir, opts), fellBack: false };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const why = `Could not download ${source} (${reason}).`;
    if (!opts.fallBackToTiny) {
      throw new DownloadFailedError(
        reason,
        `${why} Set MODEL to a local .gguf file, run once with network access, or set ALLOW_TINY_FALLBACK=1 to serve the generated random-weight test model as ${TINY_MODEL_ID} instead.`,
      );
    }
    const path = join(cacheDir, `${TINY_MODEL_ID}.gguf`);
    if (!existsSync(path)) await writeTinyModel(path);
    console.error(
      `[gpu-backend] ${why}\n` +
        `[gpu-backend] FALLING BACK (ALLOW_TINY_FALLBACK) to the generated tiny test model ${path}, served as '${TINY_MODEL_ID}' whatever MODEL_ID says: it has random weights and answers with random bytes.\n` +
        "[gpu-backend] Set MODEL to a local .gguf file, or run once with network access to download the model.",
    );
    return { path, fellBack: true };
  }
}
