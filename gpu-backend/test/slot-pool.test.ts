// The slot pool's ordering rules, without a model.
import { describe, expect, it } from "vitest";
import { QueueFullError, SlotPool } from "../src/engine/slot-pool.ts";

describe("SlotPool", () => {
  it("hands out the free slot ranked highest", async () => {
    const rank = (s: string) => ({ a: 1, b: 3, c: 2 })[s] ?? 0;
    const pool = new SlotPool(["a", "b", "c"], 0);
    expect(await pool.acquire(undefined, rank)).toBe("b");
    expect(await pool.acquire(undefined, rank)).toBe("c");
    expect(await pool.acquire()).toBe("a");
  });

  it("serves waiters first in, first out, and refuses past the queue limit", async () => {
    const pool = new SlotPool(["only"], 2);
    const slot = await pool.acquire();
    const order: string[] = [];
    const w1 = pool.acquire().then((s) => { order.push("w1"); return s; });
    const w2 = pool.acquire().then((s) => { order.push("w2"); return s; });
    await expect(pool.acquire()).rejects.toBeInstanceOf(QueueFullError);
    expect([pool.running, pool.waiting]).toEqual([1, 2]);
    pool.release(slot);
    pool.release(await w1);
    pool.release(await w2);
    expect(order).toEqual(["w1", "w2"]);
    expect([pool.running, pool.waiting]).toEqual([0, 0]);
  });

  it("drops a waiter whose client gives up, and reports idleness", async () => {
    const pool = new SlotPool(["only"], 5);
    const slot = await pool.acquire();
    const abort = new AbortController();
    const waiting = pool.acquire(abort.signal);
    const idle = pool.whenIdle();
    abort.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(pool.waiting).toBe(0);
    pool.release(slot);
    await idle;
    expect(pool.isFree(slot)).toBe(true);
  });
});
