// One bounded read for every body the Worker takes from someone else (a client's request, an
// upstream's answer, a replica's metrics page): chunks are collected until the stream ends or the
// next one would pass `max` bytes, and then the stream is cancelled, so nothing past the limit is
// ever buffered. What to do about an overflow (413, 502, keep what fits) is the caller's call.
export interface BoundedRead {
  chunks: Uint8Array[];
  size: number;
  over: boolean;
}

// `race` lets a caller put its own deadline on each read (the router's upstream timer).
export async function readUpTo(
  body: ReadableStream<Uint8Array>,
  max: number,
  race: <T>(read: Promise<T>) => Promise<T> = (read) => read,
): Promise<BoundedRead> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await race(reader.read());
    if (done) return { chunks, size, over: false };
    if (size + value.byteLength > max) {
      await reader.cancel().catch(() => {});
      return { chunks, size, over: true };
    }
    size += value.byteLength;
    chunks.push(value);
  }
}

export function joinChunks({ chunks, size }: BoundedRead): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
