// The one-timer deadline behind upstream first-byte and idle limits (workers/router/watchdog.ts).
import { describe, expect, it } from "vitest";
import { Watchdog } from "../../workers/router/watchdog.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function watched() {
  const fired: number[] = [];
  const started = Date.now();
  const dog = new Watchdog(() => fired.push(Date.now() - started));
  return { dog, fired };
}

describe("Watchdog", () => {
  it("fires once when its deadline passes", async () => {
    const { dog, fired } = watched();
    dog.set(50);
    await sleep(150);
    expect(fired.length).toBe(1);
    expect(fired[0]).toBeGreaterThanOrEqual(45);
  });

  it("a deadline pushed later fires at the later time, not the first", async () => {
    const { dog, fired } = watched();
    dog.set(60);
    await sleep(30);
    dog.set(120); // now due at about 150 ms
    await sleep(60);
    expect(fired).toEqual([]);
    await sleep(150);
    expect(fired.length).toBe(1);
    expect(fired[0]).toBeGreaterThanOrEqual(140);
  });

  it("a deadline pulled earlier fires at the earlier time", async () => {
    const { dog, fired } = watched();
    dog.set(10_000);
    dog.set(40);
    await sleep(120);
    expect(fired.length).toBe(1);
    expect(fired[0]).toBeLessThan(1_000);
  });

  it("does not fire while paused, and runs again after the next set", async () => {
    const { dog, fired } = watched();
    dog.set(40);
    dog.pause();
    await sleep(100);
    expect(fired).toEqual([]);
    dog.set(40);
    await sleep(100);
    expect(fired.length).toBe(1);
  });

  it("never fires once stopped", async () => {
    const { dog, fired } = watched();
    dog.set(30);
    dog.stop();
    await sleep(100);
    expect(fired).toEqual([]);
  });
});
