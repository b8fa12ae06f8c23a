// Circuit breakers: open after N consecutive failures or a failure rate, skip the target while
// open, let a limited number of probes through half-open, close again; state shared across
// isolates through the breaker's Durable Object.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { breakerSettings } from "../../schema/route-config.ts";
import { BreakerClient } from "../../workers/router/breakers.ts";
import { admin, chat, expectStatus, uid } from "../gateway/helpers.ts";
import { ask, calls, makeRouterTenant, scenario, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
// A second API key of the tenant: one caller's failures count at most half toward a shared
// breaker (breaker-fairness.test.ts), so opening it takes failures of two callers.
let key2: string;
beforeAll(async () => {
  t = await makeRouterTenant();
  key2 = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "second key" }), 201).body.key as string;
});

// Alternates between the tenant's two keys.
const keyFor = (i: number) => (i % 2 === 0 ? t.key : key2);

const noRetry = { attempts: 1, base_ms: 10, max_ms: 100, budget_ms: 5000 };

async function breakerOf(name: string, path: string) {
  const res = expectStatus(await admin(t.owner, "GET", `/router-config/breakers?tenant_id=${t.tenantId}&model=${name}`), 200);
  return res.body.data.find((b: { path: string }) => b.path === path);
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe("circuit breakers", () => {
  it("opens after N consecutive failures; the target is then skipped without being called", async () => {
    const bad = await scenario({ mode: "fail", status: 500 });
    const name = uid("route");
    await setConfig(t, {
      routes: { [name]: { tree: { type: "fallback", children: [target(`fake-scn-${bad}`, { id: "a" }), target("fake-echo", { id: "b" })] }, retry: noRetry, breaker: { failures: 3, open_ms: 60_000 } } },
    });
    for (let i = 0; i < 3; i++) {
      expect((await chat(keyFor(i), { model: name, ...ask() })).status).toBe(200);
      await settle();
    }
    expect((await calls(bad)).total).toBe(3);
    expect(await breakerOf(name, `${name}/a`)).toMatchObject({ phase: "open", times_opened: 1 });
    for (let i = 0; i < 5; i++) {
      const res = await chat(t.key, { model: name, ...ask() });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}/a:breaker_open`);
      expect(res.headers.get("x-edgeclaw-attempts")).toBe("1");
    }
    expect((await calls(bad)).total).toBe(3);
  });

  it("opens on a failure rate over a minimum of requests", async () => {
    // Every other call fails: never 3 in a row, but 50% of at least 6.
    const name = uid("route");
    const flaky = await scenario({ mode: "ok" });
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${flaky}`, { id: "a" }), retry: noRetry, breaker: { failures: 3, failure_rate: 0.5, min_requests: 6, open_ms: 60_000 } } } });
    for (let i = 0; i < 6; i++) {
      await scenario({ mode: i % 2 === 1 ? "fail" : "ok", status: 502 }, flaky);
      await chat(keyFor(Math.floor(i / 2)), { model: name, ...ask() });
      await settle();
    }
    expect(await breakerOf(name, name)).toMatchObject({ phase: "open" });
    const refused = await chat(t.key, { model: name, ...ask() });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe("no_available_target");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("half-opens after open_ms, lets probes through, and closes after enough successes", async () => {
    const flaky = await scenario({ mode: "fail", status: 500 });
    const name = uid("route");
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${flaky}`, { id: "a" }), retry: noRetry, breaker: { failures: 2, open_ms: 400, half_open_probes: 2 } } } });
    await chat(t.key, { model: name, ...ask() });
    await settle();
    await chat(key2, { model: name, ...ask() });
    await settle();
    expect(await breakerOf(name, name)).toMatchObject({ phase: "open" });
    expect((await chat(t.key, { model: name, ...ask() })).status).toBe(503);
    await scenario({ mode: "ok" }, flaky);
    await new Promise((r) => setTimeout(r, 450));
    expect((await chat(t.key, { model: name, ...ask() })).status).toBe(200);
    await settle();
    expect((await breakerOf(name, name)).phase).toBe("half_open");
    expect((await chat(t.key, { model: name, ...ask() })).status).toBe(200);
    await settle();
    expect((await breakerOf(name, name)).phase).toBe("closed");
  });

  it("lets only the configured number of probes through at once while half-open", async () => {
    const cfg = breakerSettings.parse({ failures: 1, open_ms: 100, half_open_probes: 2 });
    const key = uid("probe-key");
    const client = new BreakerClient((key) => env.BREAKERS.get(env.BREAKERS.idFromName(key)));
    await client.report(key, cfg, false, false);
    await new Promise((r) => setTimeout(r, 150));
    const answers = await Promise.all(Array.from({ length: 6 }, () => client.admit(key, cfg, () => {})));
    expect(answers.filter((a) => a.allowed && a.probe)).toHaveLength(2);
  });

  it("shares state between isolates: failures seen by one protect the other", async () => {
    const cfg = breakerSettings.parse({ failures: 3, open_ms: 60_000 });
    const key = uid("shared-key");
    // Two clients, each with its own local cache, stand for two isolates of the Worker.
    const isolateA = new BreakerClient((key) => env.BREAKERS.get(env.BREAKERS.idFromName(key)));
    const isolateB = new BreakerClient((key) => env.BREAKERS.get(env.BREAKERS.idFromName(key)));
    expect(await isolateB.admit(key, cfg, () => {})).toEqual({ allowed: true, probe: false });
    for (let i = 0; i < 3; i++) await isolateA.report(key, cfg, false, false);
    // B's cached view is still "closed" until it refreshes (at most 1 s); then it refuses.
    const pending: Promise<unknown>[] = [];
    await new Promise((r) => setTimeout(r, 1_050));
    await isolateB.admit(key, cfg, (p) => pending.push(p));
    await Promise.all(pending);
    expect(await isolateB.admit(key, cfg, () => {})).toEqual({ allowed: false, probe: false });
    expect(isolateB.knownOpen(key)).toBe(true);
  });
});
