// Issue 10, item 1: a tenant admin must not be able to make the router send a provider's
// deployment credential (PROVIDER_*) to a URL of their choosing. Replicas are declared on the
// provider (owner-controlled for such a credential); a route config names replica ids only, and
// the router takes URLs from the provider row alone, so even a config row forged in D1 with
// replica URLs sends nothing there. A capture server stands in for the attacker's endpoint.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, chat, makeTenant, token, uid, type TestTenant } from "../gateway/helpers.ts";
import { ask, declareReplicas, putConfig, replicaUrl, scenario, setConfig, target } from "./helpers.ts";

let capture: string;

async function captured(): Promise<{ path: string; authorization: string | null; apiKey: string | null }[]> {
  return (await fetch(`${env.FAKE_UPSTREAM_URL}/control/captured`)).json();
}

const leaked = async () => (await captured()).filter((c) => c.authorization?.includes(env.PROVIDER_FAKE_KEY as string) || c.apiKey === env.PROVIDER_FAKE_KEY);

beforeAll(async () => {
  capture = ((await (await fetch(`${env.FAKE_UPSTREAM_URL}/control/capture`, { method: "POST" })).json()) as { url: string }).url;
  // The capture server works and records what reaches it (so "nothing captured" below means
  // nothing was sent, not a broken capture).
  const probe = await fetch(`${capture}/v1/chat/completions`, { method: "POST", headers: { authorization: "Bearer probe" }, body: "{}" });
  expect(probe.status).toBe(200);
  expect((await captured()).some((c) => c.authorization === "Bearer probe")).toBe(true);
});

const tenantAdmin = (t: TestTenant) => token({ sub: "tenant-admin", role: "admin", tenant: t.tenantId });

describe("replica URLs and the provider credential", () => {
  it("refuses a tenant admin's route config that supplies a replica URL (400), naming the field", async () => {
    const t = await makeTenant();
    const res = await admin(await tenantAdmin(t), "PUT", "/router-config", {
      config: { routes: { steal: { tree: target("fake-echo", { replicas: [{ id: "evil", base_url: `${capture}/v1` }] }) } } },
    });
    expect(res.status).toBe(400);
    // Admin errors are {code, message}; the message names the field.
    expect(res.body.error.message).toContain("config.routes.steal.tree.replicas[0]");
    expect(res.body.error.message).toContain("declared on the provider");
    expect(await leaked()).toEqual([]);
  });

  it("refuses a tenant admin declaring replicas on a provider with a deployment credential (403); an owner may", async () => {
    const t = await makeTenant();
    const attempt = await admin(await tenantAdmin(t), "PATCH", `/providers/${t.providerId}`, { replicas: [{ id: "evil", base_url: `${capture}/v1` }] });
    expect(attempt.status).toBe(403);
    expect(attempt.body.error.code).toBe("forbidden");
    const owner = await admin(t.owner, "PATCH", `/providers/${t.providerId}`, { replicas: [{ id: "gpu1", base_url: replicaUrl("gpu1") }] });
    expect(owner.status).toBe(200);
    expect(owner.body.replicas).toEqual([{ id: "gpu1", base_url: replicaUrl("gpu1") }]);
    // The tenant admin can then pick among the declared replicas, by id, but not name others.
    const picked = await admin(await tenantAdmin(t), "PUT", "/router-config", { config: { routes: { gpu: { tree: target("fake-echo", { replicas: ["gpu1"] }) } } } });
    expect(picked.status).toBe(201);
    const unknown = await admin(await tenantAdmin(t), "PUT", "/router-config", { config: { routes: { gpu: { tree: target("fake-echo", { replicas: ["evil"] }) } } } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe("unknown_replica");
    const res = await chat(t.key, { model: "gpu", ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-replica")).toBe("gpu1");
  });

  it("lets a tenant admin declare replicas on its own provider that carries no deployment credential", async () => {
    const t = await makeTenant();
    const created = await admin(await tenantAdmin(t), "POST", "/providers", {
      name: "own-gpu",
      kind: "openai-compatible",
      base_url: `${env.FAKE_UPSTREAM_URL}/v1`,
      replicas: [{ id: "a", base_url: replicaUrl("a") }],
    });
    expect(created.status).toBe(201);
    expect(created.body.replicas).toEqual([{ id: "a", base_url: replicaUrl("a") }]);
    const patched = await admin(await tenantAdmin(t), "PATCH", `/providers/${created.body.id}`, { replicas: [{ id: "b", base_url: replicaUrl("b") }] });
    expect(patched.status).toBe(200);
  });

  it("never sends the credential to a replica URL forged into a stored config row in D1", async () => {
    const t = await makeTenant();
    const scn = await scenario({ mode: "ok" });
    const name = uid("forged");
    // The owner declares one replica; the forged row names another with the capture URL, and
    // also the declared id with the capture URL in place of the declared one.
    await declareReplicas(t, [{ id: "gpu1", base_url: replicaUrl("gpu1") }]);
    const forged = JSON.stringify({
      routes: {
        [name]: { tree: { type: "target", provider: "fake", model: `fake-scn-${scn}`, replicas: [{ id: "evil", base_url: `${capture}/v1`, metrics_url: `${capture}/metrics` }] }, retry: { attempts: 1, base_ms: 1, max_ms: 10, budget_ms: 2000 } },
        [`${name}-b`]: { tree: { type: "target", provider: "fake", model: `fake-scn-${scn}`, replicas: [{ id: "gpu1", base_url: `${capture}/v1` }] } },
      },
    });
    await env.DB.batch([
      env.DB.prepare("INSERT INTO route_config_versions (tenant_id, version, config, created_at, actor) VALUES (?1, 1, ?2, ?3, 'forged')").bind(t.tenantId, forged, Date.now()),
      env.DB.prepare("INSERT INTO route_config_heads (tenant_id, version, updated_at) VALUES (?1, 1, ?2)").bind(t.tenantId, Date.now()),
    ]);
    const refused = await chat(t.key, { model: name, ...ask() });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}:replica_not_declared`);
    // The declared id goes to the declared URL, never the forged one.
    const served = await chat(t.key, { model: `${name}-b`, ...ask() });
    expect(served.status).toBe(200);
    expect(served.headers.get("x-edgeclaw-replica")).toBe("gpu1");
    expect(served.body.model).toBe(`fake-scn-${scn}`);
    expect(await leaked()).toEqual([]);
  });

  it("reads a provider row whose replicas were tampered into an invalid shape as declaring none: nothing is sent", async () => {
    const t = await makeTenant();
    // The replicas column is parsed with the same schema as on write; a row that fails it
    // declares no replica, and the configured target then has none to use.
    await env.DB.prepare("UPDATE providers SET replicas = ?1 WHERE id = ?2").bind(JSON.stringify([{ id: "evil", base_url: `${capture}/v1`, extra: 1 }]), t.providerId).run();
    const name = uid("tampered");
    await env.DB.batch([
      env.DB.prepare("INSERT INTO route_config_versions (tenant_id, version, config, created_at, actor) VALUES (?1, 1, ?2, ?3, 'forged')").bind(t.tenantId, JSON.stringify({ routes: { [name]: { tree: { type: "target", provider: "fake", model: "fake-echo", replicas: ["evil"] } } } }), Date.now()),
      env.DB.prepare("INSERT INTO route_config_heads (tenant_id, version, updated_at) VALUES (?1, 1, ?2)").bind(t.tenantId, Date.now()),
    ]);
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(503);
    expect(await leaked()).toEqual([]);
  });
});

describe("a route config may still choose among the provider's replicas", () => {
  it("uses every declared replica when the target names none", async () => {
    const t = await makeTenant();
    await declareReplicas(t, [{ id: "only", base_url: replicaUrl("only") }]);
    const name = uid("all");
    await setConfig(t, { routes: { [name]: { tree: target("fake-echo") } } });
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-replica")).toBe("only");
    // Removing them sends requests to the provider's base_url again.
    await declareReplicas(t, null);
    const plain = await chat(t.key, { model: name, ...ask() });
    expect(plain.status).toBe(200);
    expect(plain.headers.get("x-edgeclaw-replica")).toBeNull();
    expect((await putConfig(t, { routes: { [name]: { tree: target("fake-echo", { replicas: ["only"] }) } } })).status).toBe(400);
  });
  it("sends the credential with a metrics poll on the replica's own origin, never to a metrics page elsewhere", async () => {
    const t = await makeTenant();
    const same = uid("msame");
    const other = uid("mother");
    // Both declared by the owner; only the first page shares its replica's origin.
    await declareReplicas(t, [
      { id: same, base_url: replicaUrl(same), metrics_url: `${env.FAKE_UPSTREAM_URL}/r/${same}/metrics` },
      { id: other, base_url: replicaUrl(other), metrics_url: `${capture}/metrics-${other}` },
    ]);
    const poll = async () => (await (await fetch(`${env.FAKE_UPSTREAM_URL}/control/metrics-hits/${same}`)).json()) as { hits: number; authorization: string | null };
    const elsewhere = async () => (await captured()).filter((c) => c.path === `/metrics-${other}`);
    // Sessionless requests spread over both replicas; each placement polls that replica's page.
    for (let i = 0; i < 60 && ((await poll()).hits === 0 || (await elsewhere()).length === 0); i++) {
      expect((await chat(t.key, { model: "fake-echo", ...ask() })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
    }
    const polled = await poll();
    expect(polled.hits).toBeGreaterThan(0);
    expect(polled.authorization).toBe(`Bearer ${env.PROVIDER_FAKE_KEY as string}`);
    const foreign = await elsewhere();
    expect(foreign.length).toBeGreaterThan(0);
    expect(foreign.every((c) => c.authorization === null && c.apiKey === null)).toBe(true);
    expect(await leaked()).toEqual([]);
  });
  it("does not follow an upstream's redirect: nothing reaches the URL it names", async () => {
    const t = await makeTenant();
    const name = uid("redirect");
    await setConfig(t, { routes: { [name]: { tree: { type: "target", provider: "fake", model: "fake-redirect" }, retry: { attempts: 1, base_ms: 1, max_ms: 10, budget_ms: 2000 } } } });
    const before = (await captured()).length;
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(502);
    // Not one request (with or without the credential) went to the redirect's target.
    expect((await captured()).length).toBe(before);
    expect(await leaked()).toEqual([]);
  });
});
