// Breaker state in GET /metrics: a route whose only target is a failing fake upstream trips its
// breaker; the breaker's Durable Object mirrors the phase into D1 from its alarm, and the scrape
// shows edgeclaw_breaker_state 2; once the upstream recovers, a probe after open_ms closes the
// breaker and the scrape shows 0, with every phase change counted. Rows of breakers nobody calls
// any more age out of the scrape and are deleted.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { breakerSettings } from "../../schema/route-config.ts";
import { beforeAll, describe, expect, it } from "vitest";
import { parseBreakerKey, ROW_TTL_MS } from "../../workers/metrics/breakers.ts";
import { renderMetrics } from "../../workers/metrics/index.ts";
import { chat, uid } from "../gateway/helpers.ts";
import { ask, makeRouterTenant, scenario, setConfig, target, type RouterTenant } from "../router/helpers.ts";
import { parsePrometheus, value } from "./prometheus.ts";
import { scrape, until } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

const noRetry = { attempts: 1, base_ms: 10, max_ms: 100, budget_ms: 5000 };

function row(key: string) {
  return env.DB.prepare("SELECT phase, transitions, open_until, updated_at FROM breaker_states WHERE key = ?")
    .bind(key)
    .first<{ phase: number; transitions: number; open_until: number; updated_at: number }>();
}

describe("edgeclaw_breaker_state", () => {
  it("is 2 while a failing upstream's breaker is open, and 0 again once a probe closed it", { timeout: 60_000 }, async () => {
    const flaky = await scenario({ mode: "fail", status: 500 });
    const name = uid("route");
    // failures: 1 opens the shared breaker on one failure of anyone (state/breaker.ts).
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${flaky}`, { id: "a" }), retry: noRetry, breaker: { failures: 1, open_ms: 500, half_open_probes: 1 } } } });
    const key = `${t.tenantId}|${name}|${name}`;
    const labels = { tenant: t.tenantId, route: name, target: name };

    expect((await chat(t.key, { model: name, ...ask() })).status).toBeGreaterThanOrEqual(500);
    const open = await until(() => row(key), (r) => r?.phase === 2);
    expect(open).toMatchObject({ phase: 2, transitions: 1 });
    expect(open!.open_until).toBeGreaterThan(0);
    let families = await scrape();
    expect(families.get("edgeclaw_breaker_state")?.type).toBe("gauge");
    expect(value(families, "edgeclaw_breaker_state", labels)).toBe(2);
    expect(value(families, "edgeclaw_breaker_transitions_total", labels)).toBe(1);

    await scenario({ mode: "ok" }, flaky);
    // After open_ms the next call is the probe; its success closes the breaker (one probe).
    const served = await until(
      () => chat(t.key, { model: name, ...ask() }),
      (a) => a.status === 200,
    );
    expect(served.status).toBe(200);
    const closed = await until(() => row(key), (r) => r?.phase === 0);
    // closed -> open -> half-open -> closed.
    expect(closed).toMatchObject({ phase: 0, transitions: 3, open_until: 0 });
    families = await scrape();
    expect(value(families, "edgeclaw_breaker_state", labels)).toBe(0);
    expect(value(families, "edgeclaw_breaker_transitions_total", labels)).toBe(3);
  });

  it("a mirror write that D1 refuses is retried by the object's alarm until it lands", async () => {
    const key = `${t.tenantId}|${uid("route")}|mirror/a`;
    const stub = env.BREAKERS.get(env.BREAKERS.idFromName(key));
    const cfg = breakerSettings.parse({ failures: 1, open_ms: 60_000 });
    await runInDurableObject(stub, async (instance, state) => {
      const object = instance as unknown as { env: typeof env; alarm(): Promise<void>; mirror: { failures: number; pending: boolean } };
      const real = object.env;
      // D1 down: every statement fails.
      object.env = { ...real, DB: { prepare: () => ({ bind: () => ({ run: () => Promise.reject(new Error("D1_ERROR: simulated outage")) }) }) } as unknown as D1Database };
      await state.storage.deleteAlarm();
      instance.report(cfg, { ok: 0, fail: 1, probe: false }, key);
      // The phase change armed the alarm (at once); deliver it here, twice, while D1 is down.
      expect(await state.storage.getAlarm()).not.toBeNull();
      await object.alarm();
      await object.alarm();
      // (At least these two failed; the runtime may have delivered the alarm once more meanwhile.)
      expect(object.mirror.failures).toBeGreaterThanOrEqual(2);
      expect(object.mirror.pending).toBe(true);
      // Re-armed later (backoff), not dropped.
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
      object.env = real;
      await object.alarm();
      expect(object.mirror).toMatchObject({ failures: 0, pending: false });
    });
    expect(await row(key)).toMatchObject({ phase: 2, transitions: 1 });
  });

  it("leaves out and deletes rows not refreshed for the TTL (a target nobody calls any more)", async () => {
    const now = Date.now();
    const stale = `${t.tenantId}|gone-route|gone-route/a`;
    const fresh = `${t.tenantId}|kept-route|kept-route/a`;
    const insert = "INSERT OR REPLACE INTO breaker_states (key, tenant_id, route, target, phase, transitions, open_until, changed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    await env.DB.batch([
      env.DB.prepare(insert).bind(stale, t.tenantId, "gone-route", "gone-route/a", 2, 1, now, now - ROW_TTL_MS - 60_000, now - ROW_TTL_MS - 60_000),
      env.DB.prepare(insert).bind(fresh, t.tenantId, "kept-route", "kept-route/a", 1, 2, 0, now, now),
    ]);
    const families = await scrape();
    expect(value(families, "edgeclaw_breaker_state", { tenant: t.tenantId, route: "gone-route", target: "gone-route/a" })).toBeUndefined();
    expect(value(families, "edgeclaw_breaker_state", { tenant: t.tenantId, route: "kept-route", target: "kept-route/a" })).toBe(1);
    // The scrape's waitUntil deleted the aged row.
    expect(await row(stale)).toBeNull();
    expect(await row(fresh)).not.toBeNull();
  });

  it("a breaker table D1 cannot read is left out of the scrape and counted, the rest still answers", async () => {
    const db = env.DB;
    // A D1 that fails every statement on breaker_states (and nothing else).
    const failing = new Proxy(db, {
      get(target, prop) {
        if (prop === "prepare") return (sql: string) => (sql.includes("breaker_states") ? { bind: () => ({ all: () => Promise.reject(new Error("D1_ERROR: simulated")), run: () => Promise.reject(new Error("D1_ERROR: simulated")) }) } : target.prepare(sql));
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const families = parsePrometheus(await renderMetrics({ ...env, DB: failing as D1Database }, { waitUntil: () => {}, scrapeShards: async () => ({ shards: [], errors: 0 }) }));
    expect(families.has("edgeclaw_breaker_state")).toBe(false);
    expect(value(families, "edgeclaw_metrics_scrape_errors", { source: "breakers" })).toBe(1);
    expect(value(families, "edgeclaw_metrics_scrape_errors", { source: "channels" })).toBe(0);
    expect(families.has("edgeclaw_requests_total")).toBe(true);
  });

  it("parses only router breaker keys", () => {
    expect(parseBreakerKey("ten-1|chat|chat/a@r1")).toEqual({ tenant: "ten-1", route: "chat", target: "chat/a@r1" });
    for (const bad of ["probe-key-1", "ten|route", "|route|t", "ten||t", "ten|route|"]) expect(parseBreakerKey(bad)).toBeNull();
  });
});
