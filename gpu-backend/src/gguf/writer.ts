// Minimal GGUF v3 writer: enough to produce test models (F32 tensors, scalar/string/array metadata).
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
import { open } from "node:fs/promises";

const enum_ = {
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
} as const;
const GGML_TYPE_F32 = 0;
const ALIGNMENT = 32;

/** A metadata value with its GGUF type made explicit (JS numbers alone cannot say u32 vs f32). */
export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: string[] }
  | { type: "i32[]"; value: number[] }
  | { type: "f32[]"; value: number[] };

export type GgufTensor = {
  name: string;
  /** ggml dimension order: dims[0] is the fastest-varying (row length). */
  dims: number[];
  data: Float32Array;
};

/** Growable little-endian byte buffer. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number) {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number) { this.ensure(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number) { this.ensure(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  u64(v: number) { this.ensure(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  f32(v: number) { this.ensure(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  u8(v: number) { this.ensure(1); this.buf.writeUInt8(v, this.length); this.length += 1; }
  bytes(b: Uint8Array) { this.ensure(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string) { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.bytes(b); }
  pad(to: number) { while (this.length % to !== 0) this.u8(0); }
  view() { return this.buf.subarray(0, this.length); }
}

function writeValue(out: ByteSink, v: GgufValue) {
  switch (v.type) {
    case "u32": out.u32(enum_.UINT32); out.u32(v.value); break;
    case "i32": out.u32(enum_.INT32); out.i32(v.value); break;
    case "f32": out.u32(enum_.FLOAT32); out.f32(v.value); break;
    case "bool": out.u32(enum_.BOOL); out.u8(v.value ? 1 : 0); break;
    case "string": out.u32(enum_.STRING); out.str(v.value); break;
    case "string[]": out.u32(enum_.ARRAY); out.u32(enum_.STRING); out.u64(v.value.length); v.value.forEach((s) => out.str(s)); break;
    case "i32[]": out.u32(enum_.ARRAY); out.u32(enum_.INT32); out.u64(v.value.length); v.value.forEach((n) => out.i32(n)); break;
    case "f32[]": out.u32(enum_.ARRAY); out.u32(enum_.FLOAT32); out.u64(v.value.length); v.value.forEach((n) => out.f32(n)); break;
  }
}

/** Writes a GGUF v3 file with F32 tensors. Tensor data is streamed so large test models fit in memory. */
export async function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufTensor[]): Promise<void> {
  const head = new ByteSink();
  head.bytes(Buffer.from("GGUF", "ascii"));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    head.str(key);
    writeValue(head, value);
  }
  let offset = 0;
  for (const t of tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims} need ${count} values, got ${t.data.length}`);
    head.str(t.name);
    head.u32(t.dims.length);
    t.dims.forEach((d) => head.u64(d));
    head.u32(GGML_TYPE_F32);
    head.u64(offset);
    offset += Math.ceil((count * 4) / ALIGNMENT) * ALIGNMENT;
  }
  head.pad(ALIGNMENT);

  const file = await open(path, "w");
  try {
    await file.write(head.view());
    for (const t of tensors) {
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      await file.write(bytes);
      const padding = (ALIGNMENT - (bytes.length % ALIGNMENT)) % ALIGNMENT;
      if (padding) await file.write(Buffer.alloc(padding));
    }
  } finally {
    await file.close();
  }
}
