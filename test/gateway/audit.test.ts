import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, chat, expectStatus, hello, makeTenant, token } from "./helpers.ts";

async function auditRows(tenantId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM audit_log WHERE tenant_id = ? ORDER BY id").bind(tenantId).all<Record<string, any>>();
  return results;
}

describe("audit_log", () => {
  it("records every admin write with its actor, in order, and no secrets", async () => {
    const t = await makeTenant();
    const rows = await auditRows(t.tenantId);
    expect(rows.map((r) => r.action)).toEqual([
      "tenant.create",
      "provider.create",
      ...Array(13).fill("model.create"),
      "api_key.create",
    ]);
    expect(rows.every((r) => r.actor === "owner:test-owner")).toBe(true);
    const keyRow = rows.at(-1)!;
    expect(keyRow.target).toBe(t.keyId);
    expect(JSON.parse(keyRow.metadata)).toMatchObject({ name: "test key", scopes: ["models:read", "chat:write"] });
    expect(JSON.stringify(rows)).not.toContain(t.key);
    const providerRow = rows[1]!;
    expect(JSON.parse(providerRow.metadata)).toMatchObject({ credential_ref: "PROVIDER_FAKE_KEY" });
    expect(JSON.stringify(rows)).not.toContain(env.PROVIDER_FAKE_KEY);
  });

  it("records revocations and updates, not no-op repeats, and never reads or calls", async () => {
    const t = await makeTenant();
    const adminT = await token({ sub: "alice", role: "admin", tenant: t.tenantId });
    const before = (await auditRows(t.tenantId)).length;

    await chat(t.key, { model: "fake-echo", ...hello });
    await admin(adminT, "GET", "/api-keys");
    expect((await auditRows(t.tenantId)).length).toBe(before);

    expectStatus(await admin(adminT, "POST", `/api-keys/${t.keyId}/revoke`), 200);
    expectStatus(await admin(adminT, "POST", `/api-keys/${t.keyId}/revoke`), 200);
    const models = expectStatus(await admin(adminT, "GET", "/models"), 200).body.data as { id: string }[];
    expectStatus(await admin(adminT, "PATCH", `/models/${models[0]!.id}`, { output_price_per_mtok: 2 }), 200);
    expectStatus(await admin(adminT, "POST", `/providers/${t.providerId}/revoke`), 200);

    const added = (await auditRows(t.tenantId)).slice(before);
    expect(added.map((r) => [r.actor, r.action, r.target])).toEqual([
      ["admin:alice", "api_key.revoke", t.keyId],
      ["admin:alice", "model.update", models[0]!.id],
      ["admin:alice", "provider.revoke", t.providerId],
    ]);
    expect(JSON.parse(added[1]!.metadata)).toEqual({ output_price_per_mtok: 2 });
    const revokedProvider = JSON.parse(added[2]!.metadata) as { name: string; models: string[] };
    expect(revokedProvider.name).toBe("fake");
    expect(revokedProvider.models.sort()).toEqual(models.map((m) => m.id).sort());
  });

  it("is listed newest first within the token's tenant scope", async () => {
    const t = await makeTenant();
    const viewer = await token({ sub: "victor", role: "viewer", tenant: t.tenantId });
    const res = expectStatus(await admin(viewer, "GET", "/audit?limit=3"), 200);
    expect(res.body.data).toHaveLength(3);
    expect(res.body.data[0]).toMatchObject({ tenant_id: t.tenantId, action: "api_key.create", actor: "owner:test-owner", at: expect.any(String) });
    expect(res.body.data[0].id).toBeGreaterThan(res.body.data[1].id);
    expect(res.body.data.every((r: { tenant_id: string }) => r.tenant_id === t.tenantId)).toBe(true);
  });

  it("is append-only: the database refuses updates and deletes", async () => {
    const t = await makeTenant();
    await expect(env.DB.prepare("UPDATE audit_log SET actor = 'someone-else' WHERE tenant_id = ?").bind(t.tenantId).run()).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare("DELETE FROM audit_log WHERE tenant_id = ?").bind(t.tenantId).run()).rejects.toThrow(/append-only/);
    expect((await auditRows(t.tenantId)).every((r) => r.actor === "owner:test-owner")).toBe(true);
  });
});
