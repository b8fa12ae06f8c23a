// Key rotation under load: rows sealed by a deployment that only had k1 keep opening after k2
// becomes current, and rotation batches re-seal them while a provider whose credential is one of
// them serves chat requests; not one request fails and the upstream gets the right credential
// every time. Batches and requests are interleaved by construction (each batch waits for a
// request to finish after the previous one), not by timing.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { forgetAllSecrets } from "../../workers/vault/store.ts";
import { admin, chat, expectStatus, hello, recordedUpstreamRequest, uid } from "../gateway/helpers.ts";
import { fetchWith, keysOnly, providerWith, secretValue, vaultTenant } from "./helpers.ts";

async function keyIds(tenantId: string): Promise<Record<string, string>> {
  const { results } = await env.DB.prepare("SELECT name, key_id FROM vault_secrets WHERE tenant_id = ?").bind(tenantId).all<{ name: string; key_id: string }>();
  return Object.fromEntries(results.map((r) => [r.name, r.key_id]));
}

describe("key rotation", () => {
  it("re-seals every row in batches while chat requests using one of them never fail", async () => {
    const t = await vaultTenant();
    const beforeRotation = keysOnly("k1", ["k1"]);
    const credential = secretValue("sk-rotating");
    // Written by the deployment before k2 existed.
    const put = (name: string, value: string) => fetchWith({ VAULT_KEYS: beforeRotation }, "PUT", `/admin/secrets/${name}`, { bearer: t.admin, body: { value } });
    expect((await put("upstream", credential)).status).toBe(201);
    for (let i = 0; i < 24; i++) expect((await put(`filler-${String(i).padStart(2, "0")}`, secretValue(`v${i}`))).status).toBe(201);
    const before = await keyIds(t.tenantId);
    expect(Object.values(before).every((k) => k === "k1")).toBe(true);
    expect(Object.keys(before)).toHaveLength(25);

    // This deployment (k2 current, k1 known) opens k1 rows.
    const { key } = await providerWith(t, "vault:upstream");
    const first = uid("req-rot");
    expectStatus(await chat(key, { model: "m", ...hello }, { "x-request-id": first }), 200);
    expect((await recordedUpstreamRequest(first)).authorization).toBe(`Bearer ${credential}`);

    // Every request below reads the credential from D1 (the isolate cache is dropped first):
    // check that dropping it is effective, so the load really exercises rows mid-rotation.
    await env.DB.prepare("UPDATE vault_secrets SET name = 'parked' WHERE tenant_id = ? AND name = 'upstream'").bind(t.tenantId).run();
    forgetAllSecrets();
    expect((await chat(key, { model: "m", ...hello })).status).toBe(502);
    await env.DB.prepare("UPDATE vault_secrets SET name = 'upstream' WHERE tenant_id = ? AND name = 'parked'").bind(t.tenantId).run();

    let rotating = true;
    let finishedSinceBatch = 0;
    const outcomes: { requestId: string; status: number; duringRotation: boolean }[] = [];
    const client = async () => {
      while (rotating) {
        const requestId = uid("req-rot");
        forgetAllSecrets();
        const res = await chat(key, { model: "m", ...hello }, { "x-request-id": requestId });
        outcomes.push({ requestId, status: res.status, duringRotation: rotating });
        finishedSinceBatch++;
      }
    };
    const load = [client(), client(), client(), client()];

    const batches: { rotated: number; remaining: number; failed: unknown[] }[] = [];
    for (let i = 0; i < 60; i++) {
      while (finishedSinceBatch < 2) await new Promise((r) => setTimeout(r, 5));
      finishedSinceBatch = 0;
      const batch = expectStatus(await admin(t.owner, "POST", "/secrets/rotate", { batch_size: 3 }), 200).body;
      expect(batch.current_key_id).toBe("k2");
      batches.push(batch);
      if (Object.values(await keyIds(t.tenantId)).every((k) => k === "k2")) break;
    }
    rotating = false;
    await Promise.all(load);

    const after = await keyIds(t.tenantId);
    expect(Object.values(after).every((k) => k === "k2")).toBe(true);
    expect(batches.length).toBeGreaterThanOrEqual(9);
    expect(batches.every((b) => b.rotated <= 3)).toBe(true);
    expect(JSON.stringify(batches)).not.toContain(credential);

    const during = outcomes.filter((o) => o.duringRotation);
    expect(during.length).toBeGreaterThanOrEqual(batches.length * 2);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    for (const o of outcomes) expect((await recordedUpstreamRequest(o.requestId)).authorization).toBe(`Bearer ${credential}`);

    // The metadata says when each row was re-sealed; the values still open under k2 alone.
    const listed = (await admin(t.admin, "GET", "/secrets?limit=500")).body.data as { key_id: string; rotated_at: string | null }[];
    expect(listed.every((s) => s.key_id === "k2" && s.rotated_at !== null)).toBe(true);
    const afterOnlyK2 = uid("req-rot");
    const res = await fetchWith({ VAULT_KEYS: keysOnly("k2", ["k2"]) }, "POST", "/v1/chat/completions", { bearer: key, body: { model: "m", ...hello }, headers: { "x-request-id": afterOnlyK2 } });
    expect(res.status).toBe(200);
    expect((await recordedUpstreamRequest(afterOnlyK2)).authorization).toBe(`Bearer ${credential}`);

    const { results: audit } = await env.DB.prepare("SELECT actor, metadata FROM audit_log WHERE action = 'secret.rotate' AND tenant_id IS NULL").all<{ actor: string; metadata: string }>();
    expect(audit.length).toBeGreaterThanOrEqual(9);
    expect(JSON.stringify(audit)).not.toContain(credential);
  }, 60_000);

  it("a value replaced after the key change keeps its new value through rotation", async () => {
    const t = await vaultTenant();
    const old = secretValue("old");
    expect((await fetchWith({ VAULT_KEYS: keysOnly("k1", ["k1"]) }, "PUT", "/admin/secrets/cred", { bearer: t.admin, body: { value: old } })).status).toBe(201);
    const { key } = await providerWith(t, "vault:cred");
    // The admin replaces the value (sealed under k2 now), then a batch runs: the row is not
    // re-sealed from the old value (rotation compares the row's nonce before it writes).
    const fresh = secretValue("fresh");
    expectStatus(await admin(t.admin, "PUT", "/secrets/cred", { value: fresh }), 200);
    expectStatus(await admin(t.owner, "POST", "/secrets/rotate", { batch_size: 500 }), 200);
    forgetAllSecrets();
    const requestId = uid("req-cas");
    expectStatus(await chat(key, { model: "m", ...hello }, { "x-request-id": requestId }), 200);
    expect((await recordedUpstreamRequest(requestId)).authorization).toBe(`Bearer ${fresh}`);
  });

  it("rows under a key removed from VAULT_KEYS are reported as orphaned, not rotated or served", async () => {
    const t = await vaultTenant();
    expect((await fetchWith({ VAULT_KEYS: keysOnly("k1", ["k1"]) }, "PUT", "/admin/secrets/stranded", { bearer: t.admin, body: { value: secretValue("s") } })).status).toBe(201);
    const { key } = await providerWith(t, "vault:stranded");
    const onlyK2 = keysOnly("k2", ["k2"]);
    const batch = await fetchWith({ VAULT_KEYS: onlyK2 }, "POST", "/admin/secrets/rotate", { bearer: t.owner, body: {} });
    expect(batch.status).toBe(200);
    expect(batch.body.orphaned).toBeGreaterThanOrEqual(1);
    expect((await keyIds(t.tenantId)).stranded).toBe("k1");
    forgetAllSecrets();
    const res = await fetchWith({ VAULT_KEYS: onlyK2 }, "POST", "/v1/chat/completions", { bearer: key, body: { model: "m", ...hello } });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_credential_missing");
  });
});
