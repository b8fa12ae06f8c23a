// Hot config: a change takes effect everywhere within 5 s with zero failed requests. The change
// is written straight to D1 here, as another isolate's admin call would (this isolate's cache is
// not told), while requests keep flowing.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { chat, uid } from "../gateway/helpers.ts";
import { ask, makeRouterTenant, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

async function writeBehindTheIsolatesBack(tenantId: string, config: unknown): Promise<number> {
  const head = await env.DB.prepare("SELECT version FROM route_config_heads WHERE tenant_id = ?").bind(tenantId).first<{ version: number }>();
  const version = (head?.version ?? 0) + 1;
  const now = Date.now();
  await env.DB.batch([
    env.DB.prepare("INSERT INTO route_config_versions (tenant_id, version, config, created_at, actor) VALUES (?, ?, ?, ?, 'test:other-isolate')").bind(tenantId, version, JSON.stringify(config), now),
    env.DB.prepare("UPDATE route_config_heads SET version = ?, updated_at = ? WHERE tenant_id = ?").bind(version, now, tenantId),
  ]);
  return version;
}

describe("hot config", () => {
  it("switches under load within 5 s with zero failed requests", async () => {
    const name = uid("hot");
    const before = { routes: { [name]: { tree: target("fake-echo", { id: "old" }) } } };
    await setConfig(t, before);
    // Warm this isolate's cache.
    expect((await chat(t.key, { model: name, ...ask() })).headers.get("x-edgeclaw-upstream-model")).toBe("fake-echo");

    let stop = false;
    let switchedAt: number | null = null;
    let changedAt = 0;
    const statuses: number[] = [];
    const worker = async () => {
      while (!stop) {
        const res = await chat(t.key, { model: name, ...ask() });
        statuses.push(res.status);
        if (res.headers.get("x-edgeclaw-upstream-model") === "fake-tools" && switchedAt === null) switchedAt = Date.now();
        if (switchedAt !== null && Date.now() - switchedAt > 300) stop = true;
        if (changedAt > 0 && Date.now() - changedAt > 8_000) stop = true;
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await new Promise((r) => setTimeout(r, 300));
    changedAt = Date.now();
    await writeBehindTheIsolatesBack(t.tenantId, { routes: { [name]: { tree: target("fake-tools", { id: "new" }) } } });
    await load;

    expect(switchedAt).not.toBeNull();
    expect((switchedAt as unknown as number) - changedAt).toBeLessThan(5_000);
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });
});
