import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { admin, call, chat, expectStatus, hello, makeTenant, type TestTenant } from "./helpers.ts";

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
