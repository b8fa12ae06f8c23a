// Checks a model file before llama.cpp sees it: llama.cpp aborts the whole process (not just the
// load) on some malformed files, which would take every other loaded model down with it.
import { open, stat } from "node:fs/promises";
import { readGgufFileInfo } from "node-llama-cpp";

export class InvalidModelFileError extends Error {}

const SUPPORTED_VERSIONS = [2, 3];
/** Keys every llama.cpp text model needs, by architecture prefix. */
const REQUIRED_ARCH_KEYS = ["context_length", "embedding_length", "block_count", "attention.head_count"];
/** Transformer architectures whose feed-forward width llama.cpp reads unconditionally. */
const FFN_ARCHS = new Set(["llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3", "phi3", "granite", "olmo", "stablelm", "starcoder2"]);

export type ModelFileSummary = { architecture: string; contextLength: number; tensorCount: number };

function lookup(metadata: unknown, dotted: string): unknown {
  return dotted.split(".").reduce<unknown>((node, key) => (node && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined), metadata);
}

export async function validateModelFile(path: string): Promise<ModelFileSummary> {
  const fail = (why: string): never => {
    throw new InvalidModelFileError(`${path} is not a usable GGUF model: ${why}`);
  };
  const size = await stat(path).then((s) => s.size, () => fail("file not found"));
  if (size < 24) fail("file too small");
  // Magic and version first, by hand: they decide whether the rest is worth parsing at all.
  const head = Buffer.alloc(8);
  const fh = await open(path, "r");
  try { await fh.read(head, 0, 8, 0); } finally { await fh.close(); }
  if (head.toString("ascii", 0, 4) !== "GGUF") fail("bad magic (expected \"GGUF\")");
  const version = head.readUInt32LE(4);
  if (!SUPPORTED_VERSIONS.includes(version)) fail(`unsupported GGUF version ${version}`);

  const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, sourceType: "filesystem" }).catch(
    (e: unknown) => fail(`unreadable header (${e instanceof Error ? e.message : String(e)})`),
  );
  const metadata = info.metadata as unknown;
  const arch = lookup(metadata, "general.architecture");
  if (typeof arch !== "string" || !arch) fail("missing general.architecture");
  const archName = arch as string;
  const required = [...REQUIRED_ARCH_KEYS, ...(FFN_ARCHS.has(archName) ? ["feed_forward_length"] : [])].map((k) => `${archName}.${k}`);
  required.push("tokenizer.ggml.model", "tokenizer.ggml.tokens");
  const missing = required.filter((k) => lookup(metadata, k) === undefined);
  if (missing.length) fail(`missing required key(s) ${missing.join(", ")}`);

  const tensors = info.fullTensorInfo ?? info.tensorInfo ?? [];
  if (tensors.length === 0) fail("no tensors");
  // Every tensor's data must start inside the file: a truncated download fails here, not in C++.
  const dataStart = info.infoEndOffset ?? 0;
  const beyond = tensors.find((t) => dataStart + Number(t.offset) >= size);
  if (beyond) fail(`tensor ${beyond.name} points past the end of the file (truncated?)`);

  return { architecture: archName, contextLength: Number(lookup(metadata, `${archName}.context_length`)), tensorCount: tensors.length };
}
