// Shared test fixtures: tiny generated models and an in-process server reached over real HTTP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { loadConfig } from "../src/config.ts";
import { writeTinyModel, type EosMode } from "../src/models/tiny-model.ts";
import { startServer, type RunningServer } from "../src/server.ts";

export const workDir = mkdtempSync(join(tmpdir(), "gpu-backend-test-"));
process.on("exit", () => rmSync(workDir, { recursive: true, force: true }));

const made = new Map<string, Promise<string>>();
/** A tiny model file, generated once per test process. */
export function tinyModel(eos: EosMode, seed = 42): Promise<string> {
  const path = join(workDir, `tiny-${eos}-${seed}.gguf`);
  if (!made.has(path)) made.set(path, writeTinyModel(path, { eos, seed }).then(() => path));
  return made.get(path)!;
}

export type Backend = RunningServer & { client: OpenAI; base: string };

export async function startBackend(env: Record<string, string>): Promise<Backend> {
  const cfg = await loadConfig({ PORT: "0", HOST: "127.0.0.1", THREADS: "1", MODEL_CACHE_DIR: join(workDir, "cache"), ...env });
  const server = await startServer(cfg);
  const ids = await server.loaded;
  if (ids.length === 0) throw new Error("no model loaded");
  const base = `${server.url}/v1`;
  // maxRetries 0: the tests look at the first answer (the SDK would retry 503s on its own).
  const apiKey = cfg.API_KEYS[0] ?? "unused"; // without API_KEYS (loopback) /v1 is open and any key passes
  return { ...server, base, client: new OpenAI({ baseURL: base, apiKey, maxRetries: 0 }) };
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const user = (content: string) => [{ role: "user" as const, content }];
