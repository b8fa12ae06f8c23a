// The fake's POST /v1/embeddings, following OpenAI's contract: {object:"list", data:[{object:
// "embedding", index, embedding}], model, usage:{prompt_tokens,total_tokens}}, the vectors as
// float arrays or, with encoding_format "base64", as base64 of little-endian float32. Vectors are
// deterministic in the input (a text or token ids) and unit length; `dimensions` sets their size
// (default DEFAULT_DIMENSIONS). Usage counts one token per word (per id for token arrays), so a
// test can tell the upstream's count from the gateway's estimate. Models:
//   fake-embed             as above
//   fake-embed-floats      ignores encoding_format and always sends floats (as some servers do)
//   fake-embed-no-usage    sends no usage
//   fake-embed-short       one vector fewer than inputs (an unusable answer)
import type { ServerResponse } from "node:http";
import { json } from "./upstream-http.ts";

export const DEFAULT_DIMENSIONS = 8;

// The fake's vector for one input: a seeded sequence, normalized.
export function fakeVector(input: string | number[], dimensions = DEFAULT_DIMENSIONS): number[] {
  const text = typeof input === "string" ? input : input.join(",");
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  const raw = Array.from({ length: dimensions }, (_, i) => Math.sin(seed + i * 7919) + 0.001);
  const norm = Math.hypot(...raw);
  // Rounded to float32, as a base64 answer carries them.
  return raw.map((v) => Math.fround(v / norm));
}

export function fakeTokens(input: string | number[]): number {
  return typeof input === "string" ? Math.max(1, input.trim().split(/\s+/).length) : input.length;
}

function inputs(input: unknown): (string | number[])[] {
  if (typeof input === "string") return [input];
  if (Array.isArray(input) && input.length > 0 && typeof input[0] === "number") return [input as number[]];
  return Array.isArray(input) ? (input as (string | number[])[]) : [];
}

export function embeddingsAnswer(res: ServerResponse, body: Record<string, unknown>): void {
  const model = String(body.model);
  const list = inputs(body.input);
  if (list.length === 0) return json(res, 400, { error: { message: "input is required", type: "invalid_request_error", param: "input", code: null } });
  const dims = typeof body.dimensions === "number" ? body.dimensions : DEFAULT_DIMENSIONS;
  const base64 = body.encoding_format === "base64" && model !== "fake-embed-floats";
  const vectors = (model === "fake-embed-short" ? list.slice(1) : list).map((input, index) => {
    const vector = fakeVector(input, dims);
    const embedding = base64 ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
    return { object: "embedding", index, embedding };
  });
  const tokens = list.reduce((n, input) => n + fakeTokens(input), 0);
  json(res, 200, {
    object: "list",
    data: vectors,
    model,
    ...(model === "fake-embed-no-usage" ? {} : { usage: { prompt_tokens: tokens, total_tokens: tokens } }),
  });
}
