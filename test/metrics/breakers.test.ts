// Breaker state in GET /metrics: a route whose only target is a failing fake upstream trips its
// breaker; the breaker's Durable Object mirrors the phase into D1 from its alarm, and the scrape
// shows edgeclaw_breaker_state 2; once the upstream recovers, a probe after open_ms closes the
// breaker and the scrape shows 0, with every phase change counted. Rows of breakers nobody calls
// any more age out of the scrape and are deleted.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { breakerSettings } from "../../schema/route-config.ts";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_MIRROR_FAILURES, MIN_WRITE_MS, parseBreakerKey, ROW_TTL_MS } from "../../workers/metrics/breakers.ts";
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
  it("is 2 while a failing upstream's breaker is open, and 0 again once a probe closed it", { timeout: 90_000 }, async () => {
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
    // The close is written MIN_WRITE_MS after the open was (a breaker writes its row that often at most).
    const closed = await until(() => row(key), (r) => r?.phase === 0, MIN_WRITE_MS + 30_000);
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
      await instance.report(cfg, { ok: 0, fail: 1, probe: false }, key);
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

  it("a flapping breaker writes its row at most once per MIN_WRITE_MS, and the next write has the latest phase and count", async () => {
    const key = `${t.tenantId}|${uid("route")}|flap/a`;
    const stub = env.BREAKERS.get(env.BREAKERS.idFromName(key));
    // The shortest open_ms a tenant may set: its own failing upstream makes the breaker flap.
    const cfg = breakerSettings.parse({ failures: 1, open_ms: 100, half_open_probes: 1 });
    await runInDurableObject(stub, async (instance, state) => {
      const object = instance as unknown as { env: typeof env; alarm(): Promise<void>; mirror: { pending: boolean; writtenAt: number } };
      const real = object.env;
      let writes = 0;
      object.env = {
        ...real,
        DB: new Proxy(real.DB, {
          get(target, prop) {
            if (prop === "prepare") return (sql: string) => (sql.includes("breaker_states") && writes++, target.prepare(sql));
            const v = Reflect.get(target, prop);
            return typeof v === "function" ? v.bind(target) : v;
          },
        }),
      };
      // closed -> open: the first change is written at once (its alarm is due now).
      await instance.report(cfg, { ok: 0, fail: 1, probe: false }, key);
      expect(await state.storage.getAlarm()).toBeLessThanOrEqual(Date.now());
      await object.alarm();
      expect(writes).toBe(1);
      const written = object.mirror.writtenAt;
      // Three more cycles: open -> half-open (probe) -> closed -> open.
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 120));
        const probe = await instance.check(cfg, key);
        expect(probe.probe).toBe(true);
        await instance.report(cfg, { ok: 1, fail: 0, probe: true }, key);
        await instance.report(cfg, { ok: 0, fail: 1, probe: false }, key);
      }
      // Nine changes since the write, one alarm, not before MIN_WRITE_MS after the last write.
      expect(object.mirror.pending).toBe(true);
      expect(await state.storage.getAlarm()).toBeGreaterThanOrEqual(written + MIN_WRITE_MS);
      expect(writes).toBe(1);
      // Its delivery (here, early) writes them all in one row.
      await object.alarm();
      expect(writes).toBe(2);
      object.env = real;
    });
    expect(await row(key)).toMatchObject({ phase: 2, transitions: 10 });
  });

  it("stops retrying after MAX_MIRROR_FAILURES failed writes in a row, and the next change starts again", async () => {
    const key = `${t.tenantId}|${uid("route")}|giveup/a`;
    const stub = env.BREAKERS.get(env.BREAKERS.idFromName(key));
    const cfg = breakerSettings.parse({ failures: 1, open_ms: 100, half_open_probes: 1 });
    await runInDurableObject(stub, async (instance, state) => {
      const object = instance as unknown as { env: typeof env; alarm(): Promise<void>; mirror: { failures: number; pending: boolean } };
      const real = object.env;
      // A region whose D1 lacks the table: every write fails.
      object.env = { ...real, DB: { prepare: () => ({ bind: () => ({ run: () => Promise.reject(new Error("D1_ERROR: no such table: breaker_states")) }) }) } as unknown as D1Database };
      await instance.report(cfg, { ok: 0, fail: 1, probe: false }, key);
      for (let i = 0; i < MAX_MIRROR_FAILURES; i++) await object.alarm();
      expect(object.mirror).toMatchObject({ failures: MAX_MIRROR_FAILURES, pending: false });
      // No alarm left: it no longer retries.
      expect(await state.storage.getAlarm()).toBeNull();
      // A late delivery of an alarm does nothing while none is pending.
      await object.alarm();
      expect(object.mirror.failures).toBe(MAX_MIRROR_FAILURES);
      // The next phase change re-arms it, with a new run of retries.
      await new Promise((r) => setTimeout(r, 120));
      await instance.check(cfg, key);
      expect(object.mirror).toMatchObject({ failures: 0, pending: true });
      expect(await state.storage.getAlarm()).not.toBeNull();
      object.env = real;
      await object.alarm();
      expect(object.mirror).toMatchObject({ failures: 0, pending: false });
    });
    expect(await row(key)).toMatchObject({ phase: 1, transitions: 2 });
  });

  it("a setAlarm that fails leaves the mirror not pending, so the next call arms it again", async () => {
    const key = `${t.tenantId}|${uid("route")}|noalarm/a`;
    const stub = env.BREAKERS.get(env.BREAKERS.idFromName(key));
    const cfg = breakerSettings.parse({ failures: 1, open_ms: 60_000 });
    await runInDurableObject(stub, async (instance, state) => {
      const object = instance as unknown as { mirror: { pending: boolean } };
      const storage = state.storage as unknown as { setAlarm: DurableObjectStorage["setAlarm"] };
      const setAlarm = storage.setAlarm;
      storage.setAlarm = () => Promise.reject(new Error("simulated setAlarm failure"));
      await instance.report(cfg, { ok: 0, fail: 1, probe: false }, key);
      expect(object.mirror.pending).toBe(false);
      storage.setAlarm = setAlarm;
      await instance.view(key);
      expect(object.mirror.pending).toBe(true);
      expect(await state.storage.getAlarm()).not.toBeNull();
    });
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
