// One Llama runtime per process: it owns the native backend (CPU or CUDA) and its thread pool.
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

export type GpuMode = "cuda" | "cpu";

export class GpuUnavailableError extends Error {}

export async function createLlama(gpu: GpuMode, threads: number): Promise<Llama> {
  if (gpu === "cpu") {
    // build: "never" so a missing prebuilt binary fails instead of compiling llama.cpp for minutes.
    return getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
  }
  // "auto" would silently fall back to CPU; production asks for CUDA and must fail fast without it.
  try {
    const llama = await getLlama({ gpu: "cuda", build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
    if (llama.gpu !== "cuda") throw new Error(`got ${String(llama.gpu)} instead`);
    return llama;
  } catch (e) {
    throw new GpuUnavailableError(
      `GPU=cuda was requested but CUDA is not usable here (${e instanceof Error ? e.message : String(e)}). ` +
        "Install @node-llama-cpp/linux-x64-cuda and run on a host with an NVIDIA driver, or set GPU=cpu.",
    );
  }
}
