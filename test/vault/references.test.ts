// References to secrets: vault:<name> always opens the referencing row's own tenant's secret,
// and deployment-wide Worker secrets (PROVIDER_*, TELEGRAM_*, WEBHOOK_*) are an owner's to
// reference. Item 3 of the hardening issue: a tenant admin used to be able to point a webhook
// job at WEBHOOK_* and so obtain HMACs made with a key shared by every tenant.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { hmacHex } from "../../workers/scheduler/actions.ts";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, waitFor } from "../channels/helpers.ts";
import { admin, chat, expectStatus, hello, makeTenant, recordedUpstreamRequest, token, uid } from "../gateway/helpers.ts";
import { providerWith, putSecret, secretValue, vaultTenant } from "./helpers.ts";

interface Callback {
  body: { job_id: string };
  raw: string;
  timestamp: string | null;
  signature: string | null;
}

async function callbacks(name: string): Promise<Callback[]> {
  return (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${name}`)).json();
}

function webhookJob(t: { tenantId: string }, name: string, secretRef: string) {
  return { tenant_id: t.tenantId, schedule: { kind: "once", delay_ms: 0 }, action: { kind: "webhook", url: `${env.FAKE_TELEGRAM_URL}/callbacks/${name}`, secret_ref: secretRef, body: { n: 1 } }, max_attempts: 1 };
}

describe("cross-tenant references", () => {
  it("a provider of tenant B naming vault:<A's secret> never gets A's value", async () => {
    const a = await vaultTenant();
    const b = await vaultTenant();
    const aValue = secretValue("sk-tenant-a");
    expectStatus(await putSecret(a, "shared-name", aValue), 201);
    const { key: bKey } = await providerWith(b, "vault:shared-name");

    const refused = uid("req-xt");
    const res = await chat(bKey, { model: "m", ...hello }, { "x-request-id": refused });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_credential_missing");
    expect(JSON.stringify(res.body)).not.toContain(aValue);
    await expect(recordedUpstreamRequest(refused)).rejects.toThrow();

    // Once B has its own secret of that name, B's provider uses B's value, never A's.
    const bValue = secretValue("sk-tenant-b");
    expectStatus(await putSecret(b, "shared-name", bValue), 201);
    const served = uid("req-xt");
    expectStatus(await chat(bKey, { model: "m", ...hello }, { "x-request-id": served }), 200);
    expect((await recordedUpstreamRequest(served)).authorization).toBe(`Bearer ${bValue}`);
  });

  it("a webhook job of tenant B naming vault:<A's secret> is dead-lettered unsent", async () => {
    const a = await vaultTenant();
    const b = await vaultTenant();
    expectStatus(await putSecret(a, "signing", secretValue("whsec-a")), 201);
    const name = `xt-${crypto.randomUUID()}`;
    const job = expectStatus(await admin(b.admin, "POST", "/jobs", webhookJob(b, name, "vault:signing")), 201);
    const runs = await waitFor(() => admin(b.admin, "GET", `/jobs/${job.body.id}/runs`), (r) => r.body.data?.[0]?.state === "dead");
    expect(runs.body.data[0]).toMatchObject({ state: "dead" });
    expect(JSON.stringify(runs.body.data[0])).toContain("no vault secret 'signing'");
    expect(await callbacks(name)).toEqual([]);
  });

  it("a Telegram account of tenant B naming vault:<A's bot token> sends nothing with it", async () => {
    const a = await vaultTenant();
    const aToken = `111:${crypto.randomUUID()}`;
    expectStatus(await putSecret(a, "bot", aToken), 201);
    const b = await makeTenant();
    const bAdmin = await token({ sub: "b-admin", role: "admin", tenant: b.tenantId });
    const agent = expectStatus(await admin(bAdmin, "POST", "/agents", { name: "helper", system_prompt: "Be brief.", model: "fake-echo" }), 201);
    const account = expectStatus(await admin(bAdmin, "POST", "/channel-accounts", { channel: "telegram", name: "bot", api_base_url: env.FAKE_TELEGRAM_URL, token_ref: "vault:bot", send_interval_ms: 0 }), 201);
    expectStatus(await admin(bAdmin, "POST", "/bindings", { agent_id: agent.body.id }), 201);
    const chatId = newChatId();
    expect((await deliver(account.body.id, account.body.webhook_secret, dmUpdate(newUpdateId(), chatId, "hi"))).status).toBe(200);
    const dead = await waitFor(() => admin(bAdmin, "GET", "/dead-letters"), (r) => (r.body.data ?? []).length > 0);
    expect(JSON.stringify(dead.body)).toContain("no vault secret 'bot'");
    expect(await sentTo(aToken, chatId)).toEqual([]);
  });
});

describe("deployment-wide secrets are owner-only (item 3)", () => {
  it("a tenant admin cannot create a webhook job signed with a WEBHOOK_* secret; with vault:<own> the signature verifies with its own key", async () => {
    const t = await vaultTenant();
    // The attack: the tenant admin picks URL and body and asks for the deployment's key.
    const attack = await admin(t.admin, "POST", "/jobs", webhookJob(t, `atk-${crypto.randomUUID()}`, "WEBHOOK_TEST_SECRET"));
    expect(attack.status).toBe(403);
    expect(attack.body.error.code).toBe("forbidden");
    const bulk = await admin(t.admin, "POST", "/jobs/bulk", { jobs: [{ schedule: { kind: "once", delay_ms: 0 }, action: { kind: "record" } }, { ...webhookJob(t, "atk-bulk", "WEBHOOK_TEST_SECRET"), tenant_id: undefined }] });
    expect(bulk.status).toBe(403);
    expect((await admin(t.admin, "GET", "/jobs")).body.data).toEqual([]);

    // Its own signing key in its vault works, and the receiver can verify with exactly that key.
    const own = secretValue("whsec-own");
    expectStatus(await putSecret(t, "signing", own), 201);
    const name = `own-${crypto.randomUUID()}`;
    const job = expectStatus(await admin(t.admin, "POST", "/jobs", webhookJob(t, name, "vault:signing")), 201);
    const got = await waitFor(() => callbacks(name), (l) => l.length > 0);
    expect(got).toHaveLength(1);
    const [hook] = got as [Callback];
    expect(hook.body.job_id).toBe(job.body.id);
    expect(hook.timestamp).not.toBeNull();
    expect(hook.signature).toBe(`sha256=${await hmacHex(own, `${hook.timestamp}.${hook.raw}`)}`);
    expect(hook.signature).not.toBe(`sha256=${await hmacHex((env as unknown as Record<string, string>).WEBHOOK_TEST_SECRET as string, `${hook.timestamp}.${hook.raw}`)}`);
    expect(JSON.stringify(job.body)).not.toContain(own);

    // An owner may still use the deployment's key.
    const ownerJob = await admin(t.owner, "POST", "/jobs", webhookJob(t, `owner-${crypto.randomUUID()}`, "WEBHOOK_TEST_SECRET"));
    expect(ownerJob.status).toBe(201);
  });

  it("a tenant admin may attach vault:<own> to providers and channel accounts, but not PROVIDER_* or TELEGRAM_*", async () => {
    const t = await vaultTenant();
    const provider = await admin(t.admin, "POST", "/providers", { name: "stolen", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: "PROVIDER_FAKE_KEY" });
    expect([provider.status, provider.body.error?.code]).toEqual([403, "forbidden"]);
    const account = await admin(t.admin, "POST", "/channel-accounts", { channel: "telegram", name: "stolen", api_base_url: env.FAKE_TELEGRAM_URL, token_ref: "TELEGRAM_TEST_BOT" });
    expect([account.status, account.body.error?.code]).toEqual([403, "forbidden"]);
    // Other Worker secrets are not referenceable at all.
    for (const ref of ["ADMIN_JWT_SECRET", "VAULT_KEYS", "vault:", "vault:a/b", "vault:../x"]) {
      const bad = await admin(t.owner, "POST", "/providers", { tenant_id: t.tenantId, name: "bad", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: ref });
      expect([ref, bad.status]).toEqual([ref, 400]);
    }
    expectStatus(await admin(t.admin, "POST", "/providers", { name: "own", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: "vault:mine" }), 201);
    expectStatus(await admin(t.admin, "POST", "/channel-accounts", { channel: "telegram", name: "own", api_base_url: env.FAKE_TELEGRAM_URL, token_ref: "vault:bot" }), 201);
  });

  it("a Telegram account with vault:<own> sends with the tenant's own bot token", async () => {
    const t = await makeTenant();
    const scoped = await token({ sub: "ops", role: "admin", tenant: t.tenantId });
    const botToken = `222:${crypto.randomUUID()}`;
    expectStatus(await admin(scoped, "PUT", "/secrets/bot", { value: botToken }), 201);
    const agent = expectStatus(await admin(scoped, "POST", "/agents", { name: "helper", system_prompt: "Be brief.", model: "fake-echo" }), 201);
    const account = expectStatus(await admin(scoped, "POST", "/channel-accounts", { channel: "telegram", name: "bot", api_base_url: env.FAKE_TELEGRAM_URL, token_ref: "vault:bot", send_interval_ms: 0 }), 201);
    expectStatus(await admin(scoped, "POST", "/bindings", { agent_id: agent.body.id }), 201);
    const chatId = newChatId();
    expect((await deliver(account.body.id, account.body.webhook_secret, dmUpdate(newUpdateId(), chatId, "hello vault"))).status).toBe(200);
    const sent = await waitFor(() => sentTo(botToken, chatId), (m) => m.length > 0);
    expect(sent.map((m) => m.text)).toEqual(["echo: hello vault"]);
  });
});
