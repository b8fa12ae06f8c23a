import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { mintAdminToken } from "../../workers/auth/admin-token.ts";
import { admin, call, chat, expectStatus, hello, makeTenant, ownerToken, token, type TestTenant } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("API key auth on /v1", () => {
  it("answers 401 in OpenAI's shape without a key", async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: "Basic dXNlcjpwYXNz" }, { authorization: "Bearer " }];
    for (const headers of attempts) {
      const res = await call("GET", "/v1/models", { headers });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        error: { message: expect.any(String), type: "authentication_error", param: null, code: "missing_api_key" },
      });
    }
  });

  it("answers 401 for a key that does not exist", async () => {
    const res = await chat("sk-edgeclaw-not-a-real-key-000000000000", { model: "fake-echo", ...hello });
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ type: "authentication_error", code: "invalid_api_key" });
  });

  it("checks the key before the body: a bad key with a bad body is still 401", async () => {
    const res = await chat("sk-edgeclaw-wrong", { nonsense: true });
    expect(res.status).toBe(401);
  });

  it("answers 401 once a key is revoked through the admin API", async () => {
    const own = await makeTenant();
    expect((await call("GET", "/v1/models", { bearer: own.key })).status).toBe(200);
    expectStatus(await admin(own.owner, "POST", `/api-keys/${own.keyId}/revoke`), 200);
    const res = await call("GET", "/v1/models", { bearer: own.key });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("invalid_api_key");
  });

  it("answers 401 for an expired key", async () => {
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const created = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "short-lived", expires_at: expiresAt }), 201);
    expect((await call("GET", "/v1/models", { bearer: created.body.key })).status).toBe(200);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 120_000);
    const res = await call("GET", "/v1/models", { bearer: created.body.key });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("expired_api_key");
  });

  it("answers 403 when the key lacks the scope for the route", async () => {
    const created = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "list only", scopes: ["models:read"] }), 201);
    expect((await call("GET", "/v1/models", { bearer: created.body.key })).status).toBe(200);
    const res = await chat(created.body.key, { model: "fake-echo", ...hello });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ type: "permission_error", code: "insufficient_scope" });
  });

  it("answers 403 for keys of a revoked tenant", async () => {
    const doomed = await makeTenant();
    expectStatus(await admin(doomed.owner, "POST", `/tenants/${doomed.tenantId}/revoke`), 200);
    const res = await chat(doomed.key, { model: "fake-echo", ...hello });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("tenant_revoked");
  });

  it("takes the tenant from the key: one tenant cannot see or call another's models", async () => {
    const other = await makeTenant();
    expectStatus(
      await admin(other.owner, "POST", "/models", { tenant_id: other.tenantId, public_name: "others-only", provider_id: other.providerId, upstream_model: "fake-echo" }),
      201,
    );
    const listed = await call("GET", "/v1/models", { bearer: t.key });
    expect(listed.body.data.map((m: { id: string }) => m.id)).not.toContain("others-only");
    const res = await chat(t.key, { model: "others-only", ...hello });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("model_not_found");
    expect((await chat(other.key, { model: "others-only", ...hello })).status).toBe(200);
  });
});

// Item 11 of issue 10: admin JWTs had no maximum lifetime and no revocation.
describe("admin token lifetime and revocation", () => {
  const secret = () => new TextEncoder().encode(env.ADMIN_JWT_SECRET as string);
  const nowS = () => Math.floor(Date.now() / 1000);
  const MAX_TTL_S = 30 * 24 * 3600; // wrangler.jsonc ADMIN_TOKEN_MAX_TTL_S (the default too)

  // A token with exactly the registered claims asked for (iat/exp/jti left out when null).
  function rawToken(claims: { iat?: number | null; exp?: number | null; jti?: string | null; role?: string; tenant?: string }): Promise<string> {
    const { iat, exp, jti, role = "owner", tenant } = claims;
    let jwt = new SignJWT({ role, ...(tenant ? { tenant } : {}) }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject("mallory").setIssuer("edgeclaw").setAudience("edgeclaw-admin");
    if (iat !== null) jwt = jwt.setIssuedAt(iat ?? nowS());
    if (exp !== null) jwt = jwt.setExpirationTime(exp ?? nowS() + 600);
    if (jti !== null) jwt = jwt.setJti(jti ?? crypto.randomUUID());
    return jwt.sign(secret());
  }

  async function auditOf(jti: string) {
    const { results } = await env.DB.prepare("SELECT * FROM audit_log WHERE action = 'admin_token.revoke' AND target = ?").bind(jti).all<Record<string, any>>();
    return results;
  }

  it("refuses a token whose exp - iat exceeds ADMIN_TOKEN_MAX_TTL_S, and accepts one at the limit", async () => {
    const iat = nowS();
    const tooLong = await rawToken({ iat, exp: iat + MAX_TTL_S + 1 });
    const res = await admin(tooLong, "GET", "/tenants");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("invalid_token");
    // Back-dating iat does not help: a token "issued" in the future is refused too.
    const future = await rawToken({ iat: iat + 3600, exp: iat + 3600 + 60 });
    expect((await admin(future, "GET", "/tenants")).status).toBe(401);
    expect((await admin(await rawToken({ iat, exp: iat + MAX_TTL_S }), "GET", "/tenants")).status).toBe(200);
  });

  it("refuses tokens without jti, iat or exp", async () => {
    for (const missing of ["jti", "iat", "exp"] as const) {
      const res = await admin(await rawToken({ [missing]: null }), "GET", "/tenants");
      expect(res.status, `without ${missing}`).toBe(401);
      expect(res.body.error.code).toBe("invalid_token");
    }
    // A jti that is not an id (empty, or too short to be random) is refused as well.
    expect((await admin(await rawToken({ jti: "x" }), "GET", "/tenants")).status).toBe(401);
  });

  it("a revoked token answers 401 right after the revocation, which leaves an audit row without the token", async () => {
    const victim = await mintAdminToken(env.ADMIN_JWT_SECRET as string, { sub: "leaky-laptop", role: "owner" }, 600);
    expectStatus(await admin(victim.token, "GET", "/tenants"), 200);
    const owner = await ownerToken();
    const revoked = expectStatus(await admin(owner, "POST", "/tokens/revoke", { token: victim.token }), 200);
    expect(revoked.body).toEqual({ jti: victim.jti, revoked: true, expires_at: new Date(victim.exp * 1000).toISOString() });
    const res = await admin(victim.token, "GET", "/tenants");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("token_revoked");
    const rows = await auditOf(victim.jti);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: "owner:test-owner", tenant_id: null });
    expect(JSON.parse(rows[0]!.metadata)).toMatchObject({ by: "token", role: "owner", sub: "leaky-laptop" });
    expect(JSON.stringify(rows)).not.toContain(victim.token.split(".")[2]);
    // Revoking again is harmless (one stored revocation, one more audit row).
    expectStatus(await admin(owner, "POST", "/tokens/revoke", { token: victim.token }), 200);
    const stored = await env.DB.prepare("SELECT COUNT(*) AS n FROM revoked_admin_tokens WHERE jti = ?").bind(victim.jti).first<{ n: number }>();
    expect(stored?.n).toBe(1);
  });

  it("revocation by id is owner-only; the id printed by the mint revokes the token", async () => {
    const tenant = t.tenantId;
    const victim = await mintAdminToken(env.ADMIN_JWT_SECRET as string, { sub: "ops", role: "admin", tenant }, 600);
    const adminT = await token({ sub: "alice", role: "admin", tenant });
    const viewerT = await token({ sub: "victor", role: "viewer", tenant });
    for (const caller of [adminT, viewerT]) {
      const res = await admin(caller, "POST", "/tokens/revoke", { jti: victim.jti, exp: victim.exp });
      expect(res.status).toBe(403);
    }
    expectStatus(await admin(victim.token, "GET", "/api-keys"), 200);
    expect(await auditOf(victim.jti)).toEqual([]);
    expectStatus(await admin(await ownerToken(), "POST", "/tokens/revoke", { jti: victim.jti, exp: victim.exp }), 200);
    expect((await admin(victim.token, "GET", "/api-keys")).status).toBe(401);
    expect(await auditOf(victim.jti)).toHaveLength(1);
  });

  it("a tenant admin may revoke its own tenant's tokens (by presenting them), not another tenant's or an owner's", async () => {
    const other = await makeTenant();
    const adminT = await token({ sub: "alice", role: "admin", tenant: t.tenantId });
    const ownViewer = await mintAdminToken(env.ADMIN_JWT_SECRET as string, { sub: "intern", role: "viewer", tenant: t.tenantId }, 600);
    const foreign = await token({ sub: "bob", role: "admin", tenant: other.tenantId });
    const unscopedViewer = await token({ sub: "ops", role: "viewer" });
    const ownerT = await ownerToken();
    for (const target of [foreign, unscopedViewer, ownerT]) {
      const res = await admin(adminT, "POST", "/tokens/revoke", { token: target });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("forbidden");
      expect((await admin(target, "GET", "/tenants")).status).toBe(200);
    }
    expectStatus(await admin(adminT, "POST", "/tokens/revoke", { token: ownViewer.token }), 200);
    expect((await admin(ownViewer.token, "GET", "/tenants")).status).toBe(401);
    const rows = await auditOf(ownViewer.jti);
    expect(rows).toMatchObject([{ actor: "admin:alice", tenant_id: t.tenantId }]);
    // A viewer may only log itself out; a token that does not verify is a 400, not a 500.
    const viewer = await token({ sub: "victor", role: "viewer", tenant: t.tenantId });
    expect((await admin(viewer, "POST", "/tokens/revoke", { token: adminT })).status).toBe(403);
    expectStatus(await admin(viewer, "POST", "/tokens/revoke", { token: viewer }), 200);
    expect((await admin(viewer, "GET", "/tenants")).status).toBe(401);
    const bad = await admin(adminT, "POST", "/tokens/revoke", { token: "not-a-jwt" });
    expect(bad.status).toBe(400);
    expect((await admin(adminT, "POST", "/tokens/revoke", { jti: "short", exp: 1 })).status).toBe(400);
  });
});
