// POST /v1/embeddings per provider kind:
//   openai-compatible  POST {base}/embeddings with the body as the client sent it (the model
//                      swapped); the answer is checked and each vector handed on in the encoding
//                      the client asked for (an upstream that ignores encoding_format and sends
//                      floats to a base64 request, or the reverse, is converted here);
//   workers-ai         the AI binding's embedding models: {text: [...]} -> {shape, data}, turned
//                      into OpenAI's list; base64 is encoded by the gateway. The binding takes
//                      text only and the models have fixed sizes, so token-id inputs and
//                      `dimensions` are refused for such a target;
//   anthropic          has no embeddings API: unavailable (no adapter).
// Usage is the upstream's prompt_tokens; where it reports none, the gateway's estimate.
import { z } from "zod";
import { embeddingResponse, embeddingTokens, inputList, type EmbeddingRequest } from "../../../schema/embeddings.ts";
import { base64 } from "../../auth/encoding.ts";
import { workersAi } from "../providers/workers-ai.ts";
import type { OperationAdapter, OperationResponse } from "./types.ts";

// Little-endian float32, OpenAI's base64 embedding encoding.
export function encodeFloats(values: readonly number[]): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return base64(bytes);
}

export function decodeFloats(text: string): number[] | null {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  if (binary.length % 4 !== 0) return null;
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const out: number[] = [];
  for (let i = 0; i < binary.length; i += 4) out.push(view.getFloat32(i, true));
  return out;
}

// One vector in the encoding asked for; null when a base64 string does not decode.
function encoded(vector: number[] | string, format: EmbeddingRequest["encoding_format"]): number[] | string | null {
  if (format === "base64") return typeof vector === "string" ? vector : encodeFloats(vector);
  return typeof vector === "string" ? decodeFloats(vector) : vector;
}

function list(request: EmbeddingRequest, model: string, vectors: { index: number; embedding: number[] | string }[], promptTokens: number | undefined): OperationResponse | null {
  const data: { object: "embedding"; index: number; embedding: number[] | string }[] = [];
  for (const v of vectors) {
    const embedding = encoded(v.embedding, request.encoding_format);
    if (embedding === null) return null;
    data.push({ object: "embedding", index: v.index, embedding });
  }
  data.sort((a, b) => a.index - b.index);
  // One vector per input, or it is not the answer to this request.
  if (data.length !== inputList(request.input).length || data.some((d, i) => d.index !== i)) return null;
  const prompt = promptTokens ?? embeddingTokens(request.input);
  return { object: "list", data, model, usage: { prompt_tokens: prompt, total_tokens: prompt } };
}

export const nativeEmbeddings: OperationAdapter<EmbeddingRequest> = {
  url: (baseUrl) => `${baseUrl}/embeddings`,
  body: (request, ctx) => ({ ...request, model: ctx.target.model }),
  toResponse: (body, request, ctx) => {
    const parsed = embeddingResponse.safeParse(body);
    if (!parsed.success) return null;
    return list(request, parsed.data.model ?? ctx.target.model, parsed.data.data, parsed.data.usage?.prompt_tokens);
  },
};

// Workers AI's text embedding answer (@cf/baai/bge-*): shape [inputs, dimensions] and the vectors.
const bindingAnswer = z.looseObject({
  shape: z.array(z.number().int()).optional(),
  data: z.array(z.array(z.number())),
});

export const workersAiEmbeddings: OperationAdapter<EmbeddingRequest> = {
  refuse(request) {
    if (inputList(request.input).some((item) => typeof item !== "string")) {
      return { code: "unsupported_value", param: "input", message: "embeds text only (token-id inputs need an OpenAI-compatible upstream)" };
    }
    if (request.dimensions !== undefined) {
      return { code: "unsupported_parameter", param: "dimensions", message: "has fixed embedding sizes (dimensions is not supported)" };
    }
    return null;
  },
  url: () => "workers-ai:binding",
  body: (request) => ({ text: inputList(request.input) }),
  toResponse: (body, request, ctx) => {
    const parsed = bindingAnswer.safeParse(body);
    if (!parsed.success) return null;
    return list(request, ctx.target.model, parsed.data.data.map((embedding, index) => ({ index, embedding })), undefined);
  },
  send: (body, ctx, env, signal) => (workersAi.send as NonNullable<typeof workersAi.send>)(body, ctx, env, signal),
};
