// /admin/secrets and the vault end to end: a value set through the admin API is sealed in D1,
// never returned, never logged, never audited, and reaches the upstream as the provider's
// credential; the admin API's scope rules, bounds and a missing VAULT_KEYS.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { admin, chat, expectStatus, hello, recordedUpstreamRequest, token, uid } from "../gateway/helpers.ts";
import { captureConsole, dumpD1, fetchWith, providerWith, putSecret, secretValue, vaultTenant } from "./helpers.ts";

describe("vault round trip", () => {
  it("a tenant admin stores a secret, references it from a provider, and the upstream gets exactly that value", async () => {
    const t = await vaultTenant();
    const value = secretValue("sk-upstream");
    const created = expectStatus(await putSecret(t, "upstream-key", value), 201);
    expect(created.body).toMatchObject({ tenant_id: t.tenantId, name: "upstream-key", ref: "vault:upstream-key", key_id: "k2", rotated_at: null });
    const { key } = await providerWith(t, "vault:upstream-key");

    const requestId = uid("req-vault");
    expectStatus(await chat(key, { model: "m", ...hello }, { "x-request-id": requestId }), 200);
    expect((await recordedUpstreamRequest(requestId)).authorization).toBe(`Bearer ${value}`);

    // Replacing the value reaches the next request at once in the isolate that handled the write.
    const replaced = secretValue("sk-upstream-2");
    const second = expectStatus(await putSecret(t, "upstream-key", replaced), 200);
    expect(second.body.created_at).toBe(created.body.created_at);
    const next = uid("req-vault");
    expectStatus(await chat(key, { model: "m", ...hello }, { "x-request-id": next }), 200);
    expect((await recordedUpstreamRequest(next)).authorization).toBe(`Bearer ${replaced}`);

    // Deleted: the provider's credential is gone, and the answer says so without a 500.
    expectStatus(await admin(t.admin, "DELETE", "/secrets/upstream-key"), 200);
    const gone = await chat(key, { model: "m", ...hello });
    expect(gone.status).toBe(502);
    expect(gone.body.error.code).toBe("upstream_credential_missing");
  });

  it("never returns, stores, logs or audits the plaintext", async () => {
    const t = await vaultTenant();
    const value = secretValue("plaintext-canary");
    const { logged, result: answers } = await captureConsole(async () => {
      const answers = [
        await putSecret(t, "canary", value),
        await admin(t.admin, "POST", "/secrets", { name: "canary-2", value }),
        await putSecret(t, "canary", value),
        await admin(t.admin, "GET", "/secrets"),
        await admin(t.admin, "GET", "/secrets/canary"),
        await admin(t.owner, "GET", `/secrets?tenant_id=${t.tenantId}`),
        await admin(t.admin, "DELETE", "/secrets/canary-2"),
      ];
      // Used as a credential too, so the point-of-use path runs under the capture.
      const { key } = await providerWith(t, "vault:canary");
      answers.push(await chat(key, { model: "m", ...hello }));
      return answers;
    });
    expect(answers.map((a) => a.status)).toEqual([201, 201, 200, 200, 200, 200, 200, 200]);
    for (const a of answers.slice(0, 7)) expect(JSON.stringify(a.body)).not.toContain(value);
    const listed = answers[3]!.body.data as Record<string, unknown>[];
    expect(listed.map((s) => s.name).sort()).toEqual(["canary", "canary-2"]);
    for (const s of listed) expect(Object.keys(s).sort()).toEqual(["created_at", "key_id", "name", "ref", "rotated_at", "tenant_id", "updated_at"]);
    expect(logged).not.toContain(value);

    const d1 = await dumpD1();
    expect(d1).toContain("canary");
    expect(d1).not.toContain(value);

    // The admin writes' rows are written with the writes; the point of use's `secret.used` is a
    // data-plane event that arrives through the usage queue, so the rows are read once it is in.
    const auditRows = async () =>
      (await env.DB.prepare("SELECT action, target, metadata FROM audit_log WHERE tenant_id = ? AND action LIKE 'secret.%' ORDER BY id").bind(t.tenantId).all<Record<string, string>>()).results;
    await vi.waitFor(async () => expect((await auditRows()).map((r) => r.action)).toContain("secret.used"), { timeout: 20_000, interval: 100 });
    const audit = await auditRows();
    expect(audit.map((r) => r.action)).toEqual(["secret.create", "secret.create", "secret.replace", "secret.delete", "secret.used"]);
    expect(audit.map((r) => r.target)).toEqual(["vault:canary", "vault:canary-2", "vault:canary", "vault:canary-2", "vault:canary"]);
    expect(JSON.stringify(audit)).not.toContain(value);
  });
});

describe("/admin/secrets scope and bounds", () => {
  it("keeps each tenant to its own secrets", async () => {
    const a = await vaultTenant();
    const b = await vaultTenant();
    expectStatus(await putSecret(a, "mine", secretValue("a")), 201);
    // B's admin cannot write, read, list or delete A's secrets.
    expect((await admin(b.admin, "PUT", "/secrets/mine", { tenant_id: a.tenantId, value: "x" })).status).toBe(403);
    expect((await admin(b.admin, "GET", `/secrets?tenant_id=${a.tenantId}`)).status).toBe(403);
    expect((await admin(b.admin, "GET", `/secrets/mine?tenant_id=${a.tenantId}`)).status).toBe(403);
    expect((await admin(b.admin, "DELETE", `/secrets/mine?tenant_id=${a.tenantId}`)).status).toBe(403);
    expect((await admin(b.admin, "GET", "/secrets/mine")).status).toBe(404);
    expect((await admin(b.admin, "GET", "/secrets")).body.data).toEqual([]);
    // A viewer reads metadata, never writes.
    const viewer = await token({ sub: "v", role: "viewer", tenant: a.tenantId });
    expect((await admin(viewer, "GET", "/secrets")).body.data.map((s: { name: string }) => s.name)).toEqual(["mine"]);
    expect((await admin(viewer, "PUT", "/secrets/other", { value: "x" })).status).toBe(403);
    expect((await admin(viewer, "DELETE", "/secrets/mine")).status).toBe(403);
    // Rotation is an owner's.
    expect((await admin(a.admin, "POST", "/secrets/rotate", {})).status).toBe(403);
    // An owner names the tenant.
    expect((await admin(a.owner, "PUT", "/secrets/x", { value: "v" })).status).toBe(400);
    expectStatus(await admin(a.owner, "PUT", "/secrets/x", { tenant_id: a.tenantId, value: "v" }), 201);
  });

  it("refuses bad names, oversized values, unknown fields, unknown and revoked tenants with clear 4xx", async () => {
    const t = await vaultTenant();
    const cases: [string, string, unknown, number, string][] = [
      ["PUT", "/secrets/bad%20name", { value: "v" }, 400, "invalid_value"],
      ["PUT", `/secrets/${"n".repeat(65)}`, { value: "v" }, 400, "invalid_value"],
      ["PUT", "/secrets/ok", { value: "" }, 400, "invalid_value"],
      ["PUT", "/secrets/ok", { value: "é".repeat(4097) }, 400, "invalid_value"],
      ["PUT", "/secrets/ok", { value: 42 }, 400, "invalid_value"],
      ["PUT", "/secrets/ok", { value: "v", extra: 1 }, 400, "unknown_parameter"],
      ["POST", "/secrets", { name: "a/b", value: "v" }, 400, "invalid_value"],
      ["POST", "/secrets/rotate", { batch_size: 0 }, 403, "forbidden"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await admin(t.admin, method, path, body);
      expect([path, res.status, res.body?.error?.code]).toEqual([path, status, code]);
    }
    // Exactly 8 KiB is accepted.
    expectStatus(await putSecret(t, "ok", "x".repeat(8192)), 201);
    expect((await admin(t.owner, "POST", "/secrets/rotate", { batch_size: 501 })).status).toBe(400);
    expect((await admin(t.owner, "PUT", "/secrets/x", { tenant_id: "ten-nobody", value: "v" })).status).toBe(404);
    expectStatus(await admin(t.owner, "POST", `/tenants/${t.tenantId}/revoke`), 200);
    const revoked = await admin(t.owner, "PUT", "/secrets/x", { tenant_id: t.tenantId, value: "v" });
    expect(revoked.status).toBeGreaterThanOrEqual(400);
    expect(revoked.status).toBeLessThan(500);
    expect(revoked.body.error.code).toBe("tenant_revoked");
  });

  it("answers 503 vault_unavailable, never a 500, when VAULT_KEYS is missing or invalid", async () => {
    const t = await vaultTenant();
    const value = secretValue("sk-before");
    expectStatus(await putSecret(t, "k", value), 201);
    const { key } = await providerWith(t, "vault:k");
    const broken = [
      undefined,
      "",
      "not json",
      JSON.stringify({ current: "k9", keys: { k1: "xhZmHka4mLUPRQhnpahudfeSA8x9wbbVyrKLRKnSaO4=" } }),
      JSON.stringify({ current: "k1", keys: { k1: "c2hvcnQ=" } }),
      JSON.stringify({ current: "constructor", keys: { k1: "xhZmHka4mLUPRQhnpahudfeSA8x9wbbVyrKLRKnSaO4=" } }),
    ];
    const { logged } = await captureConsole(async () => {
      for (const VAULT_KEYS of broken) {
        const put = await fetchWith({ VAULT_KEYS }, "PUT", "/admin/secrets/k", { bearer: t.admin, body: { value: "new" } });
        expect([VAULT_KEYS, put.status, put.body.error?.code]).toEqual([VAULT_KEYS, 503, "vault_unavailable"]);
        const rotate = await fetchWith({ VAULT_KEYS }, "POST", "/admin/secrets/rotate", { bearer: t.owner, body: {} });
        expect([VAULT_KEYS, rotate.status]).toEqual([VAULT_KEYS, 503]);
      }
      // The provider's credential cannot be opened either (this isolate has not used it yet):
      // 503 in OpenAI's error shape, and no upstream call.
      const requestId = uid("req-nokeys");
      const chatted = await fetchWith({ VAULT_KEYS: undefined }, "POST", "/v1/chat/completions", { bearer: key, body: { model: "m", ...hello }, headers: { "x-request-id": requestId } });
      expect(chatted.status).toBe(503);
      expect(chatted.body.error).toMatchObject({ code: "vault_unavailable", type: "api_error" });
      await expect(recordedUpstreamRequest(requestId)).rejects.toThrow();
    });
    // The refusals were logged (so the capture works), without the key material.
    expect(logged).toContain("vault: VAULT_KEYS");
    expect(logged).not.toContain("xhZmHka4mLUPRQhnpahudfeSA8x9wbbVyrKLRKnSaO4=");
    // Configured again: the value written before is intact.
    const requestId = uid("req-keys-back");
    expectStatus(await chat(key, { model: "m", ...hello }, { "x-request-id": requestId }), 200);
    expect((await recordedUpstreamRequest(requestId)).authorization).toBe(`Bearer ${value}`);
  });
});
