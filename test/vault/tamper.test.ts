// A sealed row only opens as itself: one flipped byte, a row copied to another tenant, or renamed
// (the tenant and name are the AES-GCM additional data), or relabelled with another key id, is
// refused at the point of use, and the upstream never sees any of the value.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { additionalData } from "../../workers/vault/cipher.ts";
import { chat, expectStatus, hello, recordedUpstreamRequest, uid } from "../gateway/helpers.ts";
import { captureConsole, providerWith, putSecret, secretValue, vaultTenant } from "./helpers.ts";

async function row(tenantId: string, name: string) {
  return (await env.DB.prepare("SELECT * FROM vault_secrets WHERE tenant_id = ? AND name = ?").bind(tenantId, name).first<Record<string, string>>())!;
}

function flipByte(b64: string, at: number): string {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  bytes[at % bytes.length]! ^= 0x01;
  return btoa(String.fromCharCode(...bytes));
}

// A chat through a provider whose credential is `ref`: refused with a clear 502 (no upstream
// call, no value in the answer or the logs), or served with the upstream's recorded credential.
async function credentialSeen(key: string, value: string): Promise<{ status: number; code: string | undefined; upstreamAuth: string | null }> {
  const requestId = uid("req-tamper");
  const { result, logged } = await captureConsole(() => chat(key, { model: "m", ...hello }, { "x-request-id": requestId }));
  expect(JSON.stringify(result.body)).not.toContain(value);
  expect(logged).not.toContain(value);
  const recorded = await recordedUpstreamRequest(requestId).catch(() => null);
  return { status: result.status, code: result.body?.error?.code, upstreamAuth: recorded?.authorization ?? null };
}

describe("tampered vault rows", () => {
  it("a flipped byte in the ciphertext, the tag or the nonce is refused", async () => {
    for (const [column, at] of [["ciphertext", 0], ["ciphertext", -1], ["iv", 3]] as const) {
      const t = await vaultTenant();
      const value = secretValue("sk-flip");
      expectStatus(await putSecret(t, "cred", value), 201);
      const sealed = await row(t.tenantId, "cred");
      const b64 = sealed[column]!;
      const length = atob(b64).length;
      await env.DB.prepare(`UPDATE vault_secrets SET ${column} = ? WHERE tenant_id = ? AND name = 'cred'`).bind(flipByte(b64, (at + length) % length), t.tenantId).run();
      const { key } = await providerWith(t, "vault:cred");
      expect([column, at, await credentialSeen(key, value)]).toEqual([column, at, { status: 502, code: "upstream_credential_missing", upstreamAuth: null }]);
    }
  });

  it("a row copied to another tenant does not open there, and the copy's tenant cannot use the value", async () => {
    const victim = await vaultTenant();
    const thief = await vaultTenant();
    const value = secretValue("sk-victim");
    expectStatus(await putSecret(victim, "cred", value), 201);
    // Someone with write access to D1 copies the victim's row to the thief's tenant as is.
    await env.DB.prepare("INSERT INTO vault_secrets (tenant_id, name, key_id, iv, ciphertext, created_at, updated_at) SELECT ?, name, key_id, iv, ciphertext, created_at, updated_at FROM vault_secrets WHERE tenant_id = ? AND name = 'cred'")
      .bind(thief.tenantId, victim.tenantId)
      .run();
    const { key } = await providerWith(thief, "vault:cred");
    expect(await credentialSeen(key, value)).toEqual({ status: 502, code: "upstream_credential_missing", upstreamAuth: null });
  });

  it("a renamed row does not open under its new name", async () => {
    const t = await vaultTenant();
    const value = secretValue("sk-renamed");
    expectStatus(await putSecret(t, "old-name", value), 201);
    await env.DB.prepare("UPDATE vault_secrets SET name = 'new-name' WHERE tenant_id = ? AND name = 'old-name'").bind(t.tenantId).run();
    const { key } = await providerWith(t, "vault:new-name");
    expect(await credentialSeen(key, value)).toEqual({ status: 502, code: "upstream_credential_missing", upstreamAuth: null });
  });

  it("a row relabelled with another key id does not open", async () => {
    const t = await vaultTenant();
    const value = secretValue("sk-relabel");
    expectStatus(await putSecret(t, "cred", value), 201);
    await env.DB.prepare("UPDATE vault_secrets SET key_id = 'k1' WHERE tenant_id = ? AND name = 'cred'").bind(t.tenantId).run();
    const { key } = await providerWith(t, "vault:cred");
    expect(await credentialSeen(key, value)).toEqual({ status: 502, code: "upstream_credential_missing", upstreamAuth: null });
  });

  it("an untouched row still opens (the control for the cases above)", async () => {
    const t = await vaultTenant();
    const value = secretValue("sk-intact");
    expectStatus(await putSecret(t, "cred", value), 201);
    const { key } = await providerWith(t, "vault:cred");
    expect(await credentialSeen(key, value)).toEqual({ status: 200, code: undefined, upstreamAuth: `Bearer ${value}` });
  });

  it("encodes tenant and name unambiguously in the additional data", () => {
    const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    expect(hex(additionalData("a", "bc"))).not.toBe(hex(additionalData("ab", "c")));
    expect(hex(additionalData("a\u0000", "b"))).not.toBe(hex(additionalData("a", "\u0000b")));
  });
});
