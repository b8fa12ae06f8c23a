import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../workers/app.ts";
import { admin, call, expectStatus, makeTenant, ownerToken, token, uid, type TestTenant } from "./helpers.ts";

let a: TestTenant; // the tenant the scoped tokens below belong to
let b: TestTenant; // another tenant
let owner: string;
let adminA: string;
let viewerA: string;
let viewerAll: string;

beforeAll(async () => {
  [a, b] = await Promise.all([makeTenant(), makeTenant()]);
  owner = await ownerToken();
  adminA = await token({ sub: "alice", role: "admin", tenant: a.tenantId });
  viewerA = await token({ sub: "victor", role: "viewer", tenant: a.tenantId });
  viewerAll = await token({ sub: "ops", role: "viewer" });
});

describe("admin authentication", () => {
  it("answers 401 in the gateway's error shape without a valid token", async () => {
    const missing = await call("GET", "/admin/tenants");
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ error: { code: "missing_token", message: expect.any(String) } });

    const secret = env.ADMIN_JWT_SECRET as string;
    const bad = [
      "not-a-jwt",
      await token({ sub: "x", role: "owner" }, 600, "another-secret-of-enough-length-0123456789"),
      await token({ sub: "x", role: "owner" }, -60), // expired
      await new SignJWT({ role: "owner" }).setProtectedHeader({ alg: "HS256" }).setSubject("x").setIssuer("edgeclaw").setAudience("someone-else").setExpirationTime("5m").sign(new TextEncoder().encode(secret)),
      await new SignJWT({ role: "superuser" }).setProtectedHeader({ alg: "HS256" }).setSubject("x").setIssuer("edgeclaw").setAudience("edgeclaw-admin").setExpirationTime("5m").sign(new TextEncoder().encode(secret)),
      // An admin token without a tenant scope is refused rather than treated as global.
      await new SignJWT({ role: "admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("x").setIssuer("edgeclaw").setAudience("edgeclaw-admin").setExpirationTime("5m").sign(new TextEncoder().encode(secret)),
    ];
    for (const jwt of bad) {
      const res = await admin(jwt, "GET", "/tenants");
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("invalid_token");
    }
  });

  it("refuses the unsigned 'none' algorithm", async () => {
    const header = btoa(JSON.stringify({ alg: "none", typ: "JWT" })).replace(/=+$/, "");
    const payload = btoa(JSON.stringify({ sub: "x", role: "owner", iss: "edgeclaw", aud: "edgeclaw-admin", exp: Math.floor(Date.now() / 1000) + 300 })).replace(/=+$/, "");
    const res = await admin(`${header}.${payload}.`, "GET", "/tenants");
    expect(res.status).toBe(401);
  });

  it("is closed (503) when no ADMIN_JWT_SECRET is configured", async () => {
    const res = await app.fetch(
      new Request("http://gateway.test/admin/tenants", { headers: { authorization: `Bearer ${owner}` } }),
      { ...env, ADMIN_JWT_SECRET: undefined },
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.code).toBe("admin_disabled");
  });
});

describe("roles and tenant scopes", () => {
  it("lets only an owner create and revoke tenants", async () => {
    const id = uid("ten");
    expect((await admin(adminA, "POST", "/tenants", { id, name: "nope" })).status).toBe(403);
    expect((await admin(viewerAll, "POST", "/tenants", { id, name: "nope" })).status).toBe(403);
    const created = expectStatus(await admin(owner, "POST", "/tenants", { id, name: "Acme" }), 201);
    expect(created.body).toEqual({ id, name: "Acme", region: null, created_at: expect.any(String), revoked_at: null });
    expect((await admin(owner, "POST", "/tenants", { id, name: "Acme again" })).status).toBe(409);
    expect((await admin(adminA, "POST", `/tenants/${id}/revoke`)).status).toBe(403);
    const revoked = expectStatus(await admin(owner, "POST", `/tenants/${id}/revoke`), 200);
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
  });

  it("shows a scoped token its own tenant only", async () => {
    const mine = expectStatus(await admin(adminA, "GET", "/tenants"), 200);
    expect(mine.body.data.map((x: { id: string }) => x.id)).toEqual([a.tenantId]);
    expect((await admin(viewerA, "GET", `/tenants/${a.tenantId}`)).status).toBe(200);
    expect((await admin(viewerA, "GET", `/tenants/${b.tenantId}`)).status).toBe(404);
    expect((await admin(adminA, "GET", `/tenants?tenant_id=${b.tenantId}`)).status).toBe(403);
    const all = expectStatus(await admin(viewerAll, "GET", "/tenants?limit=500"), 200);
    const ids = all.body.data.map((x: { id: string }) => x.id);
    expect(ids).toContain(a.tenantId);
    expect(ids).toContain(b.tenantId);
  });

  it("lets an admin manage keys in its own tenant only", async () => {
    const created = expectStatus(await admin(adminA, "POST", "/api-keys", { name: "ci" }), 201);
    expect(created.body.tenant_id).toBe(a.tenantId);
    expect(created.body.key).toMatch(/^sk-edgeclaw-[A-Za-z0-9_-]{43}$/);
    expect(created.body.prefix).toBe(created.body.key.slice(0, 16));
    // The new key works right away.
    expect((await call("GET", "/v1/models", { bearer: created.body.key })).status).toBe(200);

    expect((await admin(adminA, "POST", "/api-keys", { tenant_id: b.tenantId, name: "sneaky" })).status).toBe(403);
    expect((await admin(adminA, "POST", `/api-keys/${b.keyId}/revoke`)).status).toBe(404);
    expect((await call("GET", "/v1/models", { bearer: b.key })).status).toBe(200);

    const listed = expectStatus(await admin(adminA, "GET", "/api-keys"), 200);
    expect(listed.body.data.every((k: { tenant_id: string }) => k.tenant_id === a.tenantId)).toBe(true);
  });

  it("shows an API key's secret once: never in listings", async () => {
    const created = expectStatus(await admin(owner, "POST", "/api-keys", { tenant_id: a.tenantId, name: "once" }), 201);
    const listed = expectStatus(await admin(owner, "GET", `/api-keys?tenant_id=${a.tenantId}`), 200);
    const row = listed.body.data.find((k: { id: string }) => k.id === created.body.id);
    expect(row).toEqual({
      id: created.body.id,
      tenant_id: a.tenantId,
      name: "once",
      prefix: created.body.prefix,
      scopes: ["models:read", "chat:write"],
      created_at: expect.any(String),
      expires_at: null,
      revoked_at: null,
    });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    const stored = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(created.body.id).first<Record<string, unknown>>();
    expect(JSON.stringify(stored)).not.toContain(created.body.key);
    expect(stored?.key_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps viewers read-only", async () => {
    expect((await admin(viewerA, "GET", "/api-keys")).status).toBe(200);
    expect((await admin(viewerA, "GET", "/providers")).status).toBe(200);
    expect((await admin(viewerA, "GET", "/models")).status).toBe(200);
    expect((await admin(viewerA, "GET", "/audit")).status).toBe(200);
    const writes: Array<[string, string, unknown]> = [
      ["POST", "/api-keys", { name: "x" }],
      ["POST", `/api-keys/${a.keyId}/revoke`, undefined],
      ["POST", "/providers", { name: "p", kind: "openai-compatible", base_url: "http://127.0.0.1:1/v1" }],
      ["POST", "/models", { public_name: "m", provider_id: a.providerId, upstream_model: "x" }],
    ];
    for (const [method, path, body] of writes) {
      const res = await admin(viewerA, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
  });

  it("lets an admin add providers and models for its tenant, but not attach credentials", async () => {
    const withCredential = await admin(adminA, "POST", "/providers", {
      name: "stolen", kind: "openai-compatible", base_url: "http://127.0.0.1:1/v1", credential_ref: "PROVIDER_FAKE_KEY",
    });
    expect(withCredential.status).toBe(403);
    const provider = expectStatus(
      await admin(adminA, "POST", "/providers", { name: "own", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1/` }),
      201,
    );
    expect(provider.body).toMatchObject({ tenant_id: a.tenantId, base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: null });
    // (A URL the outbound policy allows, so the name clash is what answers.)
    expect((await admin(adminA, "POST", "/providers", { name: "own", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v2` })).status).toBe(409);

    const model = expectStatus(
      await admin(adminA, "POST", "/models", { public_name: "alices-model", provider_id: provider.body.id, upstream_model: "fake-echo", input_price_per_mtok: 0.25 }),
      201,
    );
    expect(model.body).toMatchObject({ tenant_id: a.tenantId, public_name: "alices-model", enabled: true, input_price_per_mtok: 0.25, output_price_per_mtok: 0 });
    expect((await admin(adminA, "POST", "/models", { public_name: "alices-model", provider_id: provider.body.id, upstream_model: "x" })).status).toBe(409);
    // Another tenant's provider cannot serve this tenant's model.
    expect((await admin(adminA, "POST", "/models", { public_name: "borrowed", provider_id: b.providerId, upstream_model: "x" })).status).toBe(404);
    expect((await admin(adminA, "PATCH", `/models/${model.body.id}`, { enabled: false })).status).toBe(200);
    const bModels = expectStatus(await admin(owner, "GET", `/models?tenant_id=${b.tenantId}`), 200);
    expect((await admin(adminA, "PATCH", `/models/${bModels.body.data[0].id}`, { enabled: false })).status).toBe(404);
    expect((await admin(adminA, "POST", `/providers/${b.providerId}/revoke`)).status).toBe(404);
  });

  it("validates admin bodies with clear 400s", async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ["/tenants", { name: "" }, /name/],
      ["/tenants", { id: "Bad Id!", name: "x" }, /id/],
      ["/tenants", { name: "x", plan: "gold" }, /plan/],
      ["/providers", { tenant_id: a.tenantId, name: "p", kind: "smtp", base_url: "http://x.test" }, /kind/],
      ["/providers", { tenant_id: a.tenantId, name: "p", kind: "openai-compatible", base_url: "ftp://x.test" }, /base_url/],
      ["/providers", { tenant_id: a.tenantId, name: "p", kind: "openai-compatible", base_url: "http://x.test", credential_ref: "ADMIN_JWT_SECRET" }, /credential_ref/],
      ["/api-keys", { tenant_id: a.tenantId, name: "k", scopes: ["root"] }, /scopes/],
      ["/api-keys", { tenant_id: a.tenantId, name: "k", expires_at: "tomorrow" }, /expires_at/],
      ["/api-keys", { tenant_id: a.tenantId, name: "k", expires_at: "2000-01-01T00:00:00Z" }, /future/],
      ["/api-keys", { name: "k" }, /tenant_id/],
    ];
    for (const [path, body, mention] of cases) {
      const res = await admin(owner, "POST", path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.error.message).toMatch(mention);
    }
    const notJson = await call("POST", "/admin/tenants", { bearer: owner, headers: { "content-type": "application/json" } });
    expect(notJson.status).toBe(400);
    expect((await admin(owner, "GET", "/tenants?limit=0")).status).toBe(400);
    expect((await admin(owner, "POST", "/api-keys", { tenant_id: "no-such-tenant", name: "k" })).status).toBe(404);
  });

  it("answers 404 for unknown ids and routes", async () => {
    expect((await admin(owner, "POST", "/api-keys/key_nope/revoke")).status).toBe(404);
    expect((await admin(owner, "POST", "/providers/prv_nope/revoke")).status).toBe(404);
    expect((await admin(owner, "PATCH", "/models/mdl_nope", { enabled: true })).status).toBe(404);
    expect((await admin(owner, "GET", "/tenants/nope")).status).toBe(404);
    expect((await admin(owner, "GET", "/nothing")).status).toBe(404);
  });
});
