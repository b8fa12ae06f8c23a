// The response cache: exact match per tenant, TTL per route and per request, skip/refresh
// headers, the status header, streams recorded and replayed, identical misses coalesced, and
// sampling requests left alone unless the route opts in.
import { beforeAll, describe, expect, it } from "vitest";
import { chat, makeTenant, uid } from "../gateway/helpers.ts";
import { CACHE_ORIGIN, recordMissCost, store, type CachedAnswer } from "../../workers/router/response-cache.ts";
import { ask, calls, makeRouterTenant, scenario, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

async function cachedRoute(cache: Record<string, unknown> = { ttl_s: 60 }, behaviour = {}): Promise<{ name: string; scn: string }> {
  const scn = await scenario(behaviour);
  const name = uid("cached");
  await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`), cache } } });
  return { name, scn };
}

const det = (text = "hello") => ({ ...ask(text), temperature: 0 });

describe("response cache", () => {
  it("answers a repeated request from the cache without calling upstream", async () => {
    const { name, scn } = await cachedRoute();
    const first = await chat(t.key, { model: name, ...det() });
    expect(first.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
    const second = await chat(t.key, { model: name, ...det() });
    expect(second.headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("x-edgeclaw-target")).toBe(name);
    expect((await calls(scn)).total).toBe(1);
    // A different request (or field order does not matter, content does) is a miss.
    expect((await chat(t.key, { temperature: 0, model: name, messages: [{ content: "hello", role: "user" }] })).headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    expect((await chat(t.key, { model: name, ...det("other") })).headers.get("x-edgeclaw-cache-status")).toBe("MISS");
  });

  it("keeps tenants apart", async () => {
    const other = await makeTenant();
    const { name } = await cachedRoute();
    await chat(t.key, { model: name, ...det() });
    // The other tenant has no such route at all; and its own identical request is its own.
    expect((await chat(other.key, { model: name, ...det() })).status).toBe(404);
  });

  it("honours skip, refresh and a per-request TTL", async () => {
    const { name, scn } = await cachedRoute();
    await chat(t.key, { model: name, ...det() });
    expect((await chat(t.key, { model: name, ...det() }, { "x-edgeclaw-cache": "skip" })).headers.get("x-edgeclaw-cache-status")).toBe("BYPASS");
    expect((await chat(t.key, { model: name, ...det() }, { "x-edgeclaw-cache": "refresh" })).headers.get("x-edgeclaw-cache-status")).toBe("REFRESH");
    expect((await calls(scn)).total).toBe(3);
    expect((await chat(t.key, { model: name, ...det() })).headers.get("x-edgeclaw-cache-status")).toBe("HIT");

    const short = await cachedRoute({ ttl_s: 60 });
    await chat(t.key, { model: short.name, ...det("ttl") }, { "x-edgeclaw-cache-ttl": "1" });
    expect((await chat(t.key, { model: short.name, ...det("ttl") })).headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await chat(t.key, { model: short.name, ...det("ttl") })).headers.get("x-edgeclaw-cache-status")).toBe("MISS");
  });

  it("leaves sampling requests alone unless the route opts in", async () => {
    const { name } = await cachedRoute();
    const sampled = await chat(t.key, { model: name, ...ask(), temperature: 0.7 });
    expect(sampled.headers.get("x-edgeclaw-cache-status")).toBe("BYPASS");
    const seeded = await chat(t.key, { model: name, ...ask(), temperature: 0.7, seed: 1 });
    expect(seeded.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
    const opted = await cachedRoute({ ttl_s: 60, nondeterministic: true });
    await chat(t.key, { model: opted.name, ...ask() });
    expect((await chat(t.key, { model: opted.name, ...ask() })).headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    // No cache configured and no TTL header: bypass.
    expect((await chat(t.key, { model: "fake-echo", ...det() })).headers.get("x-edgeclaw-cache-status")).toBe("BYPASS");
  });

  it("does not let the TTL header turn caching on for a route that has it off", async () => {
    for (const cache of [undefined, { ttl_s: 0 }]) {
      const scn = await scenario({});
      const name = uid("uncached");
      await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`), ...(cache ? { cache } : {}) } } });
      const header = { "x-edgeclaw-cache-ttl": "3600" };
      expect((await chat(t.key, { model: name, ...det("off") }, header)).headers.get("x-edgeclaw-cache-status")).toBe("BYPASS");
      expect((await chat(t.key, { model: name, ...det("off") }, header)).headers.get("x-edgeclaw-cache-status")).toBe("BYPASS");
      expect((await calls(scn)).total).toBe(2);
    }
  });

  it("records a stream and replays it as a stream", async () => {
    const { name, scn } = await cachedRoute();
    const first = await chat(t.key, { model: name, ...det(), stream: true });
    expect(first.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
    // Give the recorder's store a moment after the stream ended.
    await new Promise((r) => setTimeout(r, 50));
    const second = await chat(t.key, { model: name, ...det(), stream: true });
    expect(second.headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    expect(second.headers.get("content-type")).toContain("text/event-stream");
    expect(second.body).toBe(first.body);
    expect(second.body).toContain("data: [DONE]");
    expect((await calls(scn)).total).toBe(1);
  });

  it("coalesces concurrent identical misses into one upstream call", async () => {
    const { name, scn } = await cachedRoute({ ttl_s: 60 }, { mode: "delay", delay_ms: 300 });
    const answers = await Promise.all(Array.from({ length: 6 }, () => chat(t.key, { model: name, ...det("together") })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const statuses = answers.map((a) => a.headers.get("x-edgeclaw-cache-status")).sort();
    expect(statuses).toEqual(["COALESCED", "COALESCED", "COALESCED", "COALESCED", "COALESCED", "MISS"]);
    expect((await calls(scn)).total).toBe(1);
  });
});

describe("the location's shared cache level", () => {
  const entry = (body: string): CachedAnswer => ({
    kind: "json",
    body,
    served: { path: "p", provider: "prov", upstreamModel: "m" },
    storedAt: Date.now(),
    expiresAt: Date.now() + 60_000,
  });
  const shared = async (key: string) => (await caches.default.match(CACHE_ORIGIN + key)) !== undefined;

  it("takes answers of routes whose misses are slow, not of fast ones, even after a pause", async () => {
    const slow = uid("scope-slow");
    for (let i = 0; i < 3; i++) recordMissCost(slow, 400);
    const slowKey = uid("key");
    await store(slowKey, entry("slow answer"), slow);
    expect(await shared(slowKey)).toBe(true);

    // A fast route whose last answers waited through a local pause (80 ms each) stays local.
    const fast = uid("scope-fast");
    for (let i = 0; i < 20; i++) recordMissCost(fast, 3);
    for (let i = 0; i < 10; i++) recordMissCost(fast, 80);
    const fastKey = uid("key");
    await store(fastKey, entry("fast answer"), fast);
    expect(await shared(fastKey)).toBe(false);
  });
});
