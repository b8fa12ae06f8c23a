// A tiny random-weight llama model, generated on the spot, so tests and offline users need no download.
// Random weights emit random bytes: tests assert counts, finish reasons, determinism, never text.
import { writeGguf, type GgufTensor } from "../gguf/writer.ts";

/** Whether the end-of-generation token wins: never (always hits max_tokens), always (stops at once), or sometimes. */
export type EosMode = "never" | "always" | "sometimes";

export type TinyModelOptions = {
  eos?: EosMode;
  /** Embedding width (a multiple of `heads`). Larger widths make per-token compute dominate, for benchmarks. */
  dim?: number;
  layers?: number;
  heads?: number;
  contextLength?: number;
  seed?: number;
  /**
   * A text the model answers greedily, byte by byte, over and over (its bytes must be distinct),
   * each byte a byte-fallback token: a model with a known answer, for tests that need particular
   * bytes, such as a multi-byte character spread over several tokens. The blocks write nothing
   * then, so the next token depends on the current one only.
   */
  loop?: string;
};

const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Token types from llama.cpp: 1 normal, 2 unknown, 3 control, 6 byte.
const SPECIALS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"] as const;
const EOS_ID = 4; // <|im_end|>: ChatML's end of turn, so the chat wrapper and llama.cpp agree on it.

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function vocabulary() {
  const tokens: string[] = [...SPECIALS];
  const types: number[] = [2, 3, 3, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
  }
  // Printable ASCII as normal tokens; SentencePiece spells a space as U+2581.
  for (let c = 33; c < 127; c++) {
    tokens.push(String.fromCharCode(c));
    types.push(1);
  }
  tokens.push("\u2581");
  types.push(1);
  return { tokens, types, scores: tokens.map((_, i) => -i) };
}

/** Bias on the EOS logit, carried through a constant embedding channel (channel 0) that no block writes to. */
const EOS_BIAS: Record<EosMode, number> = { never: -40, always: 40, sometimes: 1.5 };

export async function writeTinyModel(path: string, options: TinyModelOptions = {}): Promise<void> {
  const { eos = "sometimes", dim = 64, layers = 2, heads = 4, contextLength = 2048, seed = 42, loop } = options;
  if (dim % heads !== 0) throw new Error(`dim ${dim} must be a multiple of heads ${heads}`);
  const ff = dim * 2;
  const rand = mulberry32(seed);
  const { tokens, types, scores } = vocabulary();
  const nVocab = tokens.length;
  const scale = 1 / Math.sqrt(dim);
  const randomMatrix = (rows: number, cols: number, s = scale) => {
    const a = new Float32Array(rows * cols);
    for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * s * 1.7;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  /** Rows are output channels (ggml dims [in, out]); zeroing row 0 keeps channel 0 untouched by the residual. */
  const sparingChannel0 = (a: Float32Array, rowLength: number) => { a.fill(0, 0, rowLength); return a; };

  const embedding = randomMatrix(nVocab, dim, 1);
  for (let t = 0; t < nVocab; t++) embedding[t * dim] = 1; // the constant channel
  const output = randomMatrix(nVocab, dim, 1);
  for (let t = 0; t < nVocab; t++) output[t * dim] = 0;
  // Other special tokens (<s>, </s>, <|im_start|>) end a turn too: never sample them, so only the
  // EOS bias decides when an answer ends ("never" must mean never, even at temperature 1).
  for (let t = 0; t < SPECIALS.length; t++) output[t * dim] = -40;
  output[EOS_ID * dim] = EOS_BIAS[eos];
  // Steer away from raw bytes that are not printable ASCII: random weights then emit readable noise
  // instead of broken UTF-8 (which the detokenizer holds back while it waits for continuation bytes).
  for (let b = 0; b < 256; b++) if (b >= 0x80 || (b < 0x20 && b !== 0x0a)) output[(SPECIALS.length + b) * dim] = -12;

  const loopIds = loop === undefined ? [] : [...Buffer.from(loop, "utf8")].map((b) => SPECIALS.length + b);
  if (loop !== undefined && (loopIds.length === 0 || new Set(loopIds).size !== loopIds.length || loopIds.length >= dim)) {
    throw new Error("loop must be non-empty text of distinct bytes, fewer than dim");
  }
  if (loopIds.length) {
    // Channels 1..k belong to the loop's k tokens: each loop token's embedding is its own channel
    // (nothing else, not even the constant channel), and the output row of its successor reads it.
    const k = loopIds.length;
    for (let t = 0; t < nVocab; t++) for (let c = 1; c <= k; c++) { embedding[t * dim + c] = 0; output[t * dim + c] = 0; }
    loopIds.forEach((id, i) => {
      embedding.fill(0, id * dim, (id + 1) * dim);
      embedding[id * dim + 1 + i] = 1;
      output[loopIds[(i + 1) % k]! * dim + 1 + i] = 20;
    });
    // Any other token leads into the loop, through the constant channel.
    output[loopIds[0]! * dim] = 60;
  }
  const blockOutput = (a: Float32Array, rowLength: number) => (loopIds.length ? a.fill(0) : sparingChannel0(a, rowLength));

  const tensors: GgufTensor[] = [
    { name: "token_embd.weight", dims: [dim, nVocab], data: embedding },
    { name: "output_norm.weight", dims: [dim], data: ones(dim) },
    { name: "output.weight", dims: [dim, nVocab], data: output },
  ];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      { name: p + "attn_norm.weight", dims: [dim], data: ones(dim) },
      { name: p + "attn_q.weight", dims: [dim, dim], data: randomMatrix(dim, dim) },
      { name: p + "attn_k.weight", dims: [dim, dim], data: randomMatrix(dim, dim) },
      { name: p + "attn_v.weight", dims: [dim, dim], data: randomMatrix(dim, dim) },
      { name: p + "attn_output.weight", dims: [dim, dim], data: blockOutput(randomMatrix(dim, dim), dim) },
      { name: p + "ffn_norm.weight", dims: [dim], data: ones(dim) },
      { name: p + "ffn_gate.weight", dims: [dim, ff], data: randomMatrix(ff, dim) },
      { name: p + "ffn_up.weight", dims: [dim, ff], data: randomMatrix(ff, dim) },
      { name: p + "ffn_down.weight", dims: [ff, dim], data: blockOutput(randomMatrix(dim, ff, 1 / Math.sqrt(ff)), ff) },
    );
  }

  await writeGguf(
    path,
    {
      "general.architecture": { type: "string", value: "llama" },
      "general.name": { type: "string", value: `edgeclaw-tiny-${eos}` },
      "general.alignment": { type: "u32", value: 32 },
      "llama.context_length": { type: "u32", value: contextLength },
      "llama.embedding_length": { type: "u32", value: dim },
      "llama.block_count": { type: "u32", value: layers },
      "llama.feed_forward_length": { type: "u32", value: ff },
      "llama.attention.head_count": { type: "u32", value: heads },
      "llama.attention.head_count_kv": { type: "u32", value: heads },
      "llama.rope.dimension_count": { type: "u32", value: dim / heads },
      "llama.attention.layer_norm_rms_epsilon": { type: "f32", value: 1e-5 },
      "tokenizer.ggml.model": { type: "string", value: "llama" },
      "tokenizer.ggml.tokens": { type: "string[]", value: tokens },
      "tokenizer.ggml.token_type": { type: "i32[]", value: types },
      "tokenizer.ggml.scores": { type: "f32[]", value: scores },
      "tokenizer.ggml.unknown_token_id": { type: "u32", value: 0 },
      "tokenizer.ggml.bos_token_id": { type: "u32", value: 1 },
      "tokenizer.ggml.eos_token_id": { type: "u32", value: EOS_ID },
      "tokenizer.ggml.add_bos_token": { type: "bool", value: false },
      "tokenizer.chat_template": { type: "string", value: CHATML_TEMPLATE },
    },
    tensors,
  );
}
