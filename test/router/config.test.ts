// Router config through the admin API: validation, versions, rollback, scopes, and that a saved
// change is what the next request uses.
import { beforeAll, describe, expect, it } from "vitest";
import { admin, chat, expectStatus, token } from "../gateway/helpers.ts";
import { ask, makeRouterTenant, putConfig, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

describe("router config", () => {
  it("refuses an invalid tree with a 400 naming the field", async () => {
    const res = await putConfig(t, { routes: { chat: { tree: { type: "weighted", children: [] } } } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_value");
    expect(res.body.error.message).toContain("routes.chat.tree");
    const bad = await putConfig(t, { routes: { chat: { tree: { type: "conditional", rules: [{ when: { field: "max_tokens", op: "in", value: 3 }, node: target("fake-echo") }], default: target("fake-echo") } } } });
    expect(bad.status).toBe(400);
    const dup = await putConfig(t, { routes: { chat: { tree: { type: "fallback", children: [target("fake-echo", { id: "a" }), target("fake-echo", { id: "a" })] } } } });
    expect(dup.status).toBe(400);
  });

  it("refuses trees and conditions nested past the depth bound with a 400, not a stack overflow", async () => {
    let tree: Record<string, unknown> = target("fake-echo");
    for (let i = 0; i < 1_500; i++) tree = { type: "fallback", children: [tree] };
    const deepTree = await putConfig(t, { routes: { chat: { tree } } });
    expect(deepTree.status).toBe(400);
    expect(deepTree.body.error.message).toContain("deeper than 64 levels");
    let when: Record<string, unknown> = { field: "stream", op: "exists" };
    for (let i = 0; i < 5_000; i++) when = { not: when };
    const deepCondition = await putConfig(t, { routes: { chat: { tree: { type: "conditional", rules: [{ when, node: target("fake-echo") }], default: target("fake-echo") } } } });
    expect(deepCondition.status).toBe(400);
    expect(deepCondition.body.error.message).toContain("deeper than 64 levels");
  });

  it("refuses a provider the tenant does not have", async () => {
    const res = await putConfig(t, { routes: { chat: { tree: { type: "target", provider: "nope", model: "x" } } } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("unknown_provider");
  });

  it("versions every change, serves the new one at once, and rolls back as a new version", async () => {
    const v1 = await setConfig(t, { routes: { chat: { tree: target("fake-echo") } } });
    const first = await chat(t.key, { model: "chat", ...ask("one") });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-edgeclaw-upstream-model")).toBe("fake-echo");
    expect(first.headers.get("x-edgeclaw-config-version")).toBe(String(v1));

    const v2 = await setConfig(t, { routes: { chat: { tree: target("fake-tools") } } });
    expect(v2).toBe(v1 + 1);
    const second = await chat(t.key, { model: "chat", ...ask("two") });
    expect(second.headers.get("x-edgeclaw-upstream-model")).toBe("fake-tools");

    const rolled = expectStatus(await admin(t.owner, "POST", "/router-config/rollback", { tenant_id: t.tenantId, version: v1 }), 201);
    expect(rolled.body).toMatchObject({ version: v2 + 1, rolled_back_from: v1 });
    const third = await chat(t.key, { model: "chat", ...ask("three") });
    expect(third.headers.get("x-edgeclaw-upstream-model")).toBe("fake-echo");

    const list = expectStatus(await admin(t.owner, "GET", `/router-config/versions?tenant_id=${t.tenantId}`), 200);
    expect(list.body.data.map((v: { version: number }) => v.version)).toEqual([v2 + 1, v2, v1]);
    const current = expectStatus(await admin(t.owner, "GET", `/router-config?tenant_id=${t.tenantId}`), 200);
    expect(current.body.config.routes.chat.tree.model).toBe("fake-echo");
    const old = expectStatus(await admin(t.owner, "GET", `/router-config/versions/${v2}?tenant_id=${t.tenantId}`), 200);
    expect(old.body.config.routes.chat.tree.model).toBe("fake-tools");
    expect((await admin(t.owner, "POST", "/router-config/rollback", { tenant_id: t.tenantId, version: 999 })).status).toBe(404);

    const audit = expectStatus(await admin(t.owner, "GET", `/audit?tenant_id=${t.tenantId}&limit=3`), 200);
    expect(audit.body.data[0]).toMatchObject({ action: "router_config.rollback", metadata: { version: v2 + 1, rolled_back_from: v1 } });
  });

  it("keeps catalog models routable without a route, and lists nothing it cannot serve", async () => {
    const res = await chat(t.key, { model: "house-model", ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-target")).toBe("house-model");
    expect((await chat(t.key, { model: "no-such-route", ...ask() })).status).toBe(404);
  });

  it("lets a tenant admin edit its own config only, and viewers only read", async () => {
    const own = await token({ sub: "a", role: "admin", tenant: t.tenantId });
    expect((await admin(own, "PUT", "/router-config", { config: { routes: { x: { tree: target("fake-echo") } } } })).status).toBe(201);
    expect((await admin(own, "PUT", "/router-config", { tenant_id: "someone-else", config: { routes: {} } })).status).toBe(403);
    const viewer = await token({ sub: "v", role: "viewer", tenant: t.tenantId });
    expect((await admin(viewer, "PUT", "/router-config", { config: { routes: {} } })).status).toBe(403);
    expect((await admin(viewer, "GET", "/router-config")).status).toBe(200);
    expect((await admin(t.owner, "GET", "/router-config")).status).toBe(400);
  });
});
