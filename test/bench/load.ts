// What the HTTP benchmarks share (router.ts, regions.ts): percentiles, rounding, a chat body that
// never repeats (so no cache answers it), and a closed-loop load generator.

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

let seq = 0;
export const chatBody = (model: string, stream = false) =>
  JSON.stringify({ model, temperature: 0, messages: [{ role: "user", content: `bench message ${seq++}` }], ...(stream ? { stream: true } : {}) });

// Runs `total` requests through `send` with `concurrency` workers; latencies in ms, and the
// gateway's own x-edgeclaw-overhead-ms of each answer that carries one.
export async function load(concurrency: number, total: number, send: () => Promise<Response>): Promise<{ ms: number[]; failed: number; reported: number[] }> {
  const ms: number[] = [];
  const reported: number[] = [];
  let failed = 0;
  let left = total;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const t0 = performance.now();
        try {
          const res = await send();
          await res.arrayBuffer();
          if (res.status !== 200) failed++;
          const own = res.headers.get("x-edgeclaw-overhead-ms");
          if (own !== null) reported.push(Number(own));
        } catch {
          failed++;
        }
        ms.push(performance.now() - t0);
      }
    }),
  );
  return { ms, failed, reported };
}
