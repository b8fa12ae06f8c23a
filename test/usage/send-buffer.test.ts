// The isolate's send buffer (workers/usage/send-buffer.ts): events leave in sendBatch calls within
// Queues' limits, every one reaches D1 through the real queue and consumer, nothing waits on the
// caller's side, and a failing send is logged rather than thrown. The queue is the real binding,
// wrapped only to record what each sendBatch carried.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { sendUsage, type UsageEvent } from "../../workers/usage/event.ts";
import { MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, utf8Length } from "../../workers/usage/send-buffer.ts";
import type { Env } from "../../workers/env.ts";
import { usageEventFixture } from "./helpers.ts";

const event = (requestId: string, i: number, fallbacks: string[] = []): UsageEvent =>
  usageEventFixture("ten-buffer", i, { key_id: "key-buffer", provider: "p", upstream_model: "u", latency_ms: 1, fallbacks, request_id: requestId });

// The real queue binding, recording the size of each batch it is given.
// `fail`: how many sendBatch calls fail before one goes through (Infinity: all of them).
function recordingQueue(fail = 0) {
  const batches: { count: number; bytes: number }[] = [];
  const real = env.USAGE_QUEUE as Queue<unknown>;
  const queue = {
    send: () => Promise.reject(new Error("single sends are not expected")),
    sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => {
      const list = [...messages];
      batches.push({ count: list.length, bytes: list.reduce((n, m) => n + new TextEncoder().encode(JSON.stringify(m.body)).length, 0) });
      if (batches.length <= fail) throw new Error("queue unavailable");
      await real.sendBatch(list);
    },
  } as unknown as Queue<unknown>;
  return { queue, batches };
}

async function rowsOf(requestId: string, count: number): Promise<number> {
  const until = Date.now() + 30_000;
  for (;;) {
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM usage_events WHERE request_id = ?").bind(requestId).first<{ n: number }>();
    if ((row?.n ?? 0) >= count || Date.now() > until) return row?.n ?? 0;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("usage send buffer", () => {
  it("sends 250 events of one burst in batches of at most 100, and all of them land once", async () => {
    const { queue, batches } = recordingQueue();
    const pending: Promise<unknown>[] = [];
    const requestId = `buffer-${crypto.randomUUID()}`;
    const testEnv = { ...env, USAGE_QUEUE: queue, USAGE_ANALYTICS: undefined } as unknown as Env;
    for (let i = 0; i < 250; i++) sendUsage(testEnv, (p) => pending.push(p), event(requestId, i));
    // Nothing is sent while the burst is still being produced, beyond the batches it filled.
    expect(batches.map((b) => b.count)).toEqual([100, 100]);
    await Promise.all(pending);
    expect(batches.map((b) => b.count)).toEqual([100, 100, 50]);
    expect(await rowsOf(requestId, 250)).toBe(250);
  });

  it("keeps each batch under the byte bound when events are large", async () => {
    const { queue, batches } = recordingQueue();
    const pending: Promise<unknown>[] = [];
    const requestId = `buffer-big-${crypto.randomUUID()}`;
    const testEnv = { ...env, USAGE_QUEUE: queue, USAGE_ANALYTICS: undefined } as unknown as Env;
    // ~40,000 characters each but ~80 KB of UTF-8 (two bytes per "é"): counted in characters, five
    // would go in one batch of ~400 KB, over Queues' 256 KB limit; counted in bytes, two per batch.
    const fallbacks = Array.from({ length: 80 }, (_, k) => `target-${k}:${"é".repeat(480)}`);
    for (let i = 0; i < 12; i++) sendUsage(testEnv, (p) => pending.push(p), event(requestId, i, fallbacks));
    await Promise.all(pending);
    expect(batches.length).toBeGreaterThanOrEqual(6);
    for (const b of batches) {
      expect(b.count).toBeLessThanOrEqual(MAX_BATCH_MESSAGES);
      expect(b.bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(12);
    expect(await rowsOf(requestId, 12)).toBe(12);
  });

  it("tries a failed batch once more, and the events land", async () => {
    const { queue, batches } = recordingQueue(1);
    const pending: Promise<unknown>[] = [];
    const requestId = `buffer-retry-${crypto.randomUUID()}`;
    const testEnv = { ...env, USAGE_QUEUE: queue, USAGE_ANALYTICS: undefined } as unknown as Env;
    for (let i = 0; i < 3; i++) sendUsage(testEnv, (p) => pending.push(p), event(requestId, i));
    await Promise.all(pending);
    expect(batches.map((b) => b.count)).toEqual([3, 3]);
    expect(await rowsOf(requestId, 3)).toBe(3);
  });

  it("logs a batch that failed twice with its event ids and never throws to the caller", async () => {
    const { queue, batches } = recordingQueue(Infinity);
    const pending: Promise<unknown>[] = [];
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const testEnv = { ...env, USAGE_QUEUE: queue, USAGE_ANALYTICS: undefined } as unknown as Env;
      const first = event("buffer-fail", 1);
      expect(() => sendUsage(testEnv, (p) => pending.push(p), first)).not.toThrow();
      await Promise.all(pending);
      expect(batches).toHaveLength(2);
      const logged = errors.mock.calls.map((c) => String(c[0])).find((line) => line.includes("queue messages not sent"));
      expect(logged).toBeDefined();
      expect(JSON.parse(logged as string)).toMatchObject({ count: 1, ids: [first.id], error: "Error: queue unavailable" });
    } finally {
      errors.mockRestore();
    }
  });

  it("counts UTF-8 bytes", () => {
    for (const text of ["", "ascii", "é", "€", "😀", "a😀é€", "\ud800"]) expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
  });
});
