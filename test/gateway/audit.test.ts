import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../workers/auth/encoding.ts";
import worker from "../../workers/index.ts";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "../channels/helpers.ts";
import { admin, chat, expectStatus, hello, makeTenant, token } from "./helpers.ts";

const enc = encodeURIComponent;
const DAY_MS = 86_400_000;

// The admin writes' rows (event_id NULL). Data-plane events (workers/audit/: pairing.approved,
// message.accepted ...) reach the same table through the usage queue whenever it delivers, so
// reading them here would make each count depend on the queue's timing; test/audit/ covers them.
async function auditRows(tenantId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM audit_log WHERE tenant_id = ? AND event_id IS NULL ORDER BY id").bind(tenantId).all<Record<string, any>>();
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

// Item 15 of issue 10: an erased session's audit rows carried the peer id for ever.
describe("audit subjects: erase makes a person's audit rows unlinkable", () => {
  it("names the peer only by a pseudonym, and erasing the session deletes the only link to it", async () => {
    const s = await setupTelegram({ agent: { dm_policy: "pairing" } });
    const tenantId = s.tenant.tenantId;
    const peer = newChatId();
    const key = sessionKeyFor(s, peer);
    const owner = s.tenant.owner;
    // Every kind of audit row that can be about a person: pairing approval, a peer binding,
    // a snapshot of their session.
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), peer, "let me in"));
    const asked = await waitFor(() => sentTo(s.token, peer), (m) => m.length >= 1);
    const code = /pairing code is ([A-Z0-9]{8})/.exec(asked[0]?.text ?? "")?.[1];
    expect(code).toBeTruthy();
    expectStatus(await admin(owner, "POST", "/pairings/approve", { tenant_id: tenantId, code }), 200);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), peer, "hello"));
    await waitFor(() => sentTo(s.token, peer), (m) => m.length >= 2);
    expectStatus(await admin(owner, "POST", "/bindings", { tenant_id: tenantId, agent_id: s.agentId, channel: "telegram", peer_id: String(peer) }), 201);
    expectStatus(await admin(owner, "POST", `/sessions/${enc(key)}/snapshots`), 201);

    const before = await auditRows(tenantId);
    const snapshot = before.find((r) => r.action === "session.snapshot");
    const pseudonym = /\/(sub_[0-9a-f]{24})$/.exec(snapshot?.target ?? "")?.[1] as string;
    expect(pseudonym).toBeTruthy();
    expect(snapshot!.target).toBe(`${tenantId}/${s.agentId}/telegram/${s.accountId}/${pseudonym}`);
    const pairing = before.filter((r) => r.action.startsWith("pairing.approve"));
    expect(pairing.map((r) => JSON.parse(r.metadata).subject)).toEqual([pseudonym, pseudonym]);
    const binding = before.find((r) => r.action === "binding.create" && JSON.parse(r.metadata).peer !== null);
    expect(JSON.parse(binding!.metadata)).toMatchObject({ peer: pseudonym });
    expect(JSON.stringify(before)).not.toContain(String(peer));
    const digest = await sha256Hex(`${tenantId}\ndm:${peer}`);
    const link = () => env.DB.prepare("SELECT pseudonym FROM audit_subjects WHERE tenant_id = ? AND (digest = ? OR pseudonym = ?)").bind(tenantId, digest, pseudonym).all();
    expect((await link()).results).toEqual([{ pseudonym }]);
    // Through the API: the rows about this peer are found by the peer id (a subject access
    // request), without the id being stored in them.
    const aboutPeer = `/audit?tenant_id=${tenantId}&subject=${enc(`dm:${peer}`)}`;
    // (kind=admin: the session's data-plane events about the peer, message.accepted and the like,
    // are found too once the usage queue has delivered them.)
    const found = expectStatus(await admin(owner, "GET", `${aboutPeer}&kind=admin`), 200).body.data.map((r: any) => r.action).sort();
    expect(found).toEqual(["binding.create", "pairing.approve", "pairing.approve.done", "session.snapshot", "session.snapshot.done"]);
    expect((await admin(owner, "GET", `/audit?subject=${enc(`dm:${peer}`)}`)).status).toBe(400); // which tenant's person?

    // The data-plane rows about the peer (its two messages accepted) come through the usage
    // queue: waited for, so the erase below is checked against them too, not against their absence.
    const accepted = () => env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = ? AND event_id IS NOT NULL AND action = 'message.accepted'").bind(tenantId).first<{ n: number }>();
    expect((await waitFor(accepted, (r) => (r?.n ?? 0) >= 2))?.n).toBeGreaterThanOrEqual(2);

    expectStatus(await admin(owner, "DELETE", `/sessions/${enc(key)}`), 200);

    const after = await auditRows(tenantId);
    // The log kept every row (and gained the erase's own two), but nothing links them to the
    // peer any more: no raw id anywhere, the mapping row is gone.
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length).map((r) => [r.action, r.target])).toEqual([
      ["session.erase", snapshot!.target],
      ["session.erase.done", snapshot!.target],
    ]);
    expect(JSON.parse(after.at(-1)!.metadata)).toEqual({ messages: 2, history: 2, outbox: 2 });
    expect(JSON.stringify(after)).not.toContain(String(peer));
    // Nor any data-plane row of the tenant (the accepted messages among them).
    const every = await env.DB.prepare("SELECT * FROM audit_log WHERE tenant_id = ?").bind(tenantId).all<Record<string, any>>();
    expect(every.results.filter((r) => r.event_id !== null).length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(every.results)).not.toContain(String(peer));
    expect((await link()).results).toEqual([]);
    expect(expectStatus(await admin(owner, "GET", aboutPeer), 200).body.data).toEqual([]);
    const anywhere = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_subjects WHERE pseudonym = ?").bind(pseudonym).first<{ n: number }>();
    expect(anywhere?.n).toBe(0);
    // A later event about the same peer gets a fresh pseudonym, unrelated to the old rows.
    expectStatus(await admin(owner, "POST", `/sessions/${enc(key)}/snapshots`), 201);
    const fresh = (await auditRows(tenantId)).at(-1)!;
    expect(fresh.action).toBe("session.snapshot.done");
    expect(fresh.target).not.toContain(pseudonym);
    expect(fresh.target).toMatch(/\/sub_[0-9a-f]{24}$/);
  }, 60_000);
});

// Item 15 of issue 10: no retention could ever run on the append-only log.
describe("audit retention", () => {
  async function insertAged(tenantId: string | null, ageMs: number, action: string): Promise<number> {
    const row = await env.DB.prepare("INSERT INTO audit_log (at, tenant_id, actor, action, target, metadata) VALUES (?, ?, 'test', ?, 'x', '{}') RETURNING id")
      .bind(Date.now() - ageMs, tenantId, action)
      .first<{ id: number }>();
    return row!.id;
  }
  const deleteRow = (id: number) => env.DB.prepare("DELETE FROM audit_log WHERE id = ?").bind(id).run();
  const count = async (tenantId: string, action: string) =>
    (await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE tenant_id = ? AND action = ?").bind(tenantId, action).first<{ n: number }>())!.n;

  it("is set per tenant by its admin or an owner, at least 7 days, and audited", async () => {
    const t = await makeTenant();
    const other = await makeTenant();
    const adminT = await token({ sub: "alice", role: "admin", tenant: t.tenantId });
    const viewerT = await token({ sub: "victor", role: "viewer", tenant: t.tenantId });
    expect((await admin(adminT, "GET", "/audit/retention")).body).toEqual({ tenant_id: t.tenantId, days: null });
    expect((await admin(adminT, "PUT", "/audit/retention", { days: 3 })).status).toBe(400);
    expect((await admin(adminT, "PUT", "/audit/retention", { days: "30" })).status).toBe(400);
    expect((await admin(viewerT, "PUT", "/audit/retention", { days: 30 })).status).toBe(403);
    expect((await admin(adminT, "PUT", "/audit/retention", { tenant_id: other.tenantId, days: 30 })).status).toBe(403);
    expect((await admin(t.owner, "PUT", "/audit/retention", { tenant_id: "no-such-tenant", days: 30 })).status).toBe(404);
    expectStatus(await admin(adminT, "PUT", "/audit/retention", { days: 30 }), 200);
    expect((await admin(viewerT, "GET", "/audit/retention")).body).toEqual({ tenant_id: t.tenantId, days: 30 });
    const last = (await auditRows(t.tenantId)).at(-1)!;
    expect([last.actor, last.action, JSON.parse(last.metadata)]).toEqual(["admin:alice", "audit.retention.set", { days: 30, previous: null }]);
    expect((await admin(adminT, "GET", "/audit/retention")).status).toBe(200);
    expect((await admin(other.owner, "GET", `/audit/retention?tenant_id=${other.tenantId}`)).body.days).toBeNull();
  });

  it("the purge deletes only rows past the tenant's retention; younger rows, UPDATEs and other tenants' rows still abort", async () => {
    const t = await makeTenant();
    const other = await makeTenant();
    const adminT = await token({ sub: "alice", role: "admin", tenant: t.tenantId });
    const old = [await insertAged(t.tenantId, 40 * DAY_MS, "old.row"), await insertAged(t.tenantId, 31 * DAY_MS, "old.row")];
    const young = await insertAged(t.tenantId, 29 * DAY_MS, "young.row");
    const otherOld = await insertAged(other.tenantId, 400 * DAY_MS, "old.row");
    const deploymentOld = await insertAged(null, 400 * DAY_MS, "old.row");

    // Without a retention period nothing can be deleted, however old.
    await expect(deleteRow(old[0]!)).rejects.toThrow(/append-only/);
    expect((await admin(adminT, "POST", "/audit/purge", {})).status).toBe(409);

    expectStatus(await admin(adminT, "PUT", "/audit/retention", { days: 30 }), 200);
    await expect(deleteRow(young)).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare("UPDATE audit_log SET actor = 'x' WHERE id = ?").bind(old[0]).run()).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare("DELETE FROM audit_log WHERE tenant_id = ?").bind(t.tenantId).run()).rejects.toThrow(/append-only/);
    await expect(deleteRow(otherOld)).rejects.toThrow(/append-only/);
    await expect(deleteRow(deploymentOld)).rejects.toThrow(/append-only/);
    const youngCount = (await auditRows(t.tenantId)).length - old.length;

    const purged = expectStatus(await admin(adminT, "POST", "/audit/purge", {}), 200);
    expect(purged.body).toEqual({ tenant_id: t.tenantId, retention_days: 30, deleted: 2 });
    expect(await count(t.tenantId, "old.row")).toBe(0);
    expect(await count(t.tenantId, "young.row")).toBe(1);
    // Every younger row stayed; the purge added its own row.
    const rows = await auditRows(t.tenantId);
    expect(rows).toHaveLength(youngCount + 1);
    expect(rows.at(-1)).toMatchObject({ action: "audit.purge", actor: "admin:alice" });
    expect(await count(other.tenantId, "old.row")).toBe(1);
    const kept = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE id = ?").bind(deploymentOld).first<{ n: number }>();
    expect(kept?.n).toBe(1);
  });

  it("the daily cron purges every tenant with a retention period, and drops revocations of expired tokens", async () => {
    const t = await makeTenant();
    expectStatus(await admin(t.owner, "PUT", "/audit/retention", { tenant_id: t.tenantId, days: 7 }), 200);
    await insertAged(t.tenantId, 8 * DAY_MS, "old.row");
    await insertAged(t.tenantId, 6 * DAY_MS, "young.row");
    const jti = `expired-${crypto.randomUUID()}`;
    await env.DB.prepare("INSERT INTO revoked_admin_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)").bind(jti, Date.now() - 1000, Date.now() - 5000).run();

    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ cron: "17 3 * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);

    expect(await count(t.tenantId, "old.row")).toBe(0);
    expect(await count(t.tenantId, "young.row")).toBe(1);
    const last = (await auditRows(t.tenantId)).at(-1)!;
    expect([last.actor, last.action, JSON.parse(last.metadata)]).toEqual(["system:cron", "audit.purge", { deleted: 1, retention_days: 7 }]);
    const left = await env.DB.prepare("SELECT COUNT(*) AS n FROM revoked_admin_tokens WHERE jti = ?").bind(jti).first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});

// Item 16 of issue 10: Durable Object writes and their audit rows were separate steps, and a
// snapshot left no row at all.
describe("admin writes to session Durable Objects record their intent first", () => {
  async function sessionKey() {
    const t = await makeTenant();
    return { t, key: `${t.tenantId}/agent-x/telegram/acct-x/dm:${crypto.randomUUID()}` };
  }
  const actions = async (tenantId: string, since: number) => (await auditRows(tenantId)).filter((r) => r.id > since);

  it("snapshot, restore and erase each leave an intent row and an outcome row", async () => {
    const { t, key } = await sessionKey();
    const start = (await auditRows(t.tenantId)).at(-1)!.id as number;
    const snap = expectStatus(await admin(t.owner, "POST", `/sessions/${enc(key)}/snapshots`), 201);
    expectStatus(await admin(t.owner, "POST", `/sessions/${enc(key)}/snapshots/${snap.body.id}/restore`), 200);
    expectStatus(await admin(t.owner, "DELETE", `/sessions/${enc(key)}`), 200);
    const rows = await actions(t.tenantId, start);
    expect(rows.map((r) => [r.action, JSON.parse(r.metadata).snapshot ?? null])).toEqual([
      ["session.snapshot", null],
      ["session.snapshot.done", snap.body.id],
      ["session.restore", snap.body.id],
      ["session.restore.done", snap.body.id],
      ["session.erase", null],
      ["session.erase.done", null],
    ]);
    expect(rows.every((r) => r.actor === "owner:test-owner" && /\/sub_[0-9a-f]{24}$/.test(r.target))).toBe(true);
  });

  it("a write whose Durable Object step fails still has its intent row", async () => {
    const { t, key } = await sessionKey();
    const start = (await auditRows(t.tenantId)).at(-1)!.id as number;
    // No snapshot 999 in this session: the object refuses the restore.
    const res = await admin(t.owner, "POST", `/sessions/${enc(key)}/snapshots/999/restore`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    const rows = await actions(t.tenantId, start);
    expect(rows.map((r) => [r.action, JSON.parse(r.metadata)])).toEqual([["session.restore", { snapshot: 999 }]]);
  });

  it("dead-letter retry and drop leave intent and outcome rows, with the session named by pseudonym", async () => {
    const { t, key } = await sessionKey();
    const start = (await auditRows(t.tenantId)).at(-1)!.id as number;
    for (const [intent, action] of [[7, "retry"], [8, "drop"]] as const) {
      // What the session object writes when a send is dead-lettered (workers/channels/outbox.ts).
      await env.DB.prepare("INSERT INTO dead_letters (id, tenant_id, session_key, intent_id, channel, attempts, last_error, created_at) VALUES (?, ?, ?, ?, 'telegram', 8, 'HTTP 500', ?)")
        .bind(`${key}#${intent}`, t.tenantId, key, intent, Date.now())
        .run();
      const res = expectStatus(await admin(t.owner, "POST", `/dead-letters/${enc(`${key}#${intent}`)}/${action}`), 200);
      expect(res.body).toEqual({ id: `${key}#${intent}`, action, found: false });
    }
    const rows = await actions(t.tenantId, start);
    expect(rows.map((r) => r.action)).toEqual(["dead_letter.retry", "dead_letter.retry.done", "dead_letter.drop", "dead_letter.drop.done"]);
    expect(rows.map((r) => r.target)).toEqual([expect.stringMatching(/\/sub_[0-9a-f]{24}#7$/), rows[0]!.target, expect.stringMatching(/\/sub_[0-9a-f]{24}#8$/), rows[2]!.target]);
    expect(JSON.stringify(rows)).not.toContain("dm:");
  });
});
