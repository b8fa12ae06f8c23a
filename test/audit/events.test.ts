// Data-plane audit events through the public interface: a Telegram webhook (the fake platform),
// the outbox's sends and dead letters, a scheduler run, a DM pairing and a vault secret, each
// lands in GET /admin/audit as one `data` row with the right actor, action and target, and none
// of them holds the peer's raw id (the subject is a pseudonym, found again by ?subject=).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, setupTelegram, waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, makeTenant } from "../gateway/helpers.ts";
import { ofAction, PSEUDONYMOUS_TARGET, waitForAudit, type AuditRow } from "./helpers.ts";

const enc = encodeURIComponent;

function expectNoRawId(rows: AuditRow[], chat: number): void {
  expect(JSON.stringify(rows)).not.toContain(String(chat));
}

describe("data-plane audit events", () => {
  it("a webhook message: accepted, its reply sent, and the bot token's vault secret used; by pseudonym only", async () => {
    const s = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    expect((await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "hello audit"))).status).toBe(200);
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    const q = `tenant_id=${s.tenant.tenantId}&kind=data`;
    const rows = await waitForAudit(s.tenant.owner, q, (r) => ["message.accepted", "message.sent", "secret.used"].every((a) => ofAction(r, a).length >= 1));

    const [accepted] = ofAction(rows, "message.accepted");
    expect(accepted).toMatchObject({
      kind: "data",
      tenant_id: s.tenant.tenantId,
      actor: "channel:telegram",
      event_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      metadata: { agent_id: s.agentId, account_id: s.accountId, channel: "telegram", seq: 1 },
    });
    expect(accepted!.target).toMatch(PSEUDONYMOUS_TARGET);
    expect(accepted!.target.startsWith(`${s.tenant.tenantId}/${s.agentId}/telegram/${s.accountId}/`)).toBe(true);
    const pseudonym = accepted!.target.slice(accepted!.target.lastIndexOf("/") + 1);
    expect(accepted!.metadata.subject).toBe(pseudonym);

    const sent = ofAction(rows, "message.sent");
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ actor: "channel:telegram", target: accepted!.target, metadata: { intent_id: 1, attempts: 1, via: "send", subject: pseudonym } });

    const [secret] = ofAction(rows, "secret.used");
    expect(secret).toMatchObject({ actor: "channel:telegram", target: "vault:bot", metadata: { ref: "vault:bot", use: "TELEGRAM_" } });
    // Never the value.
    expect(JSON.stringify(rows)).not.toContain(s.token);
    expectNoRawId(rows, chat);

    // The subject's own rows, found by the raw id only through the pseudonym mapping.
    const about = await waitForAudit(s.tenant.owner, `tenant_id=${s.tenant.tenantId}&subject=${enc(`dm:${chat}`)}&action=message.`, (r) => r.length >= 2);
    expect(about.map((r) => r.action).sort()).toEqual(["message.accepted", "message.sent"]);
    // Another person of the same tenant has none.
    expect((await waitForAudit(s.tenant.owner, `tenant_id=${s.tenant.tenantId}&subject=${enc(`dm:${newChatId()}`)}`, () => true)).length).toBe(0);
  }, 30_000);

  it("a send the platform can never take is dead-lettered, with its error's head only", async () => {
    const tenant = await makeTenant();
    const agent = expectStatus(await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "a", system_prompt: "Be brief.", model: "fake-echo" }), 201).body;
    // A bot token reference to a vault secret that does not exist: the send fails at once, for good.
    const account = expectStatus(
      await admin(tenant.owner, "POST", "/channel-accounts", { tenant_id: tenant.tenantId, channel: "telegram", name: "bot", api_base_url: env.FAKE_TELEGRAM_URL, token_ref: "vault:absent", send_interval_ms: 0 }),
      201,
    ).body;
    expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.id }), 201);
    const chat = newChatId();
    expect((await deliver(account.id, account.webhook_secret, dmUpdate(newUpdateId(), chat, "doomed"))).status).toBe(200);
    const rows = await waitForAudit(tenant.owner, `tenant_id=${tenant.tenantId}&action=message.dead_lettered`, (r) => r.length >= 1);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: "data", actor: "channel:telegram", metadata: { account_id: account.id, intent_id: 1, attempts: 1, error_class: "bot token" } });
    expect(rows[0]!.target).toMatch(PSEUDONYMOUS_TARGET);
    const dead = expectStatus(await admin(tenant.owner, "GET", `/dead-letters?tenant_id=${tenant.tenantId}`), 200).body.data;
    expect(dead).toHaveLength(1);
    // Nothing was sent, so no message.sent row.
    expect(ofAction(await waitForAudit(tenant.owner, `tenant_id=${tenant.tenantId}&kind=data`, () => true), "message.sent")).toEqual([]);
    expectNoRawId(rows, chat);
  }, 30_000);

  it("a scheduler run: one job.run row per settled attempt with its outcome", async () => {
    const s = await setupTelegram();
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "remind me"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    const key = `${s.tenant.tenantId}/${s.agentId}/telegram/${s.accountId}/dm:${chat}`;
    const reminder = { tenant_id: s.tenant.tenantId, schedule: { kind: "once", delay_ms: 200 }, action: { kind: "reminder", session_key: key, text: "tea time" } };
    const ok = expectStatus(await admin(s.tenant.owner, "POST", "/jobs", reminder), 201).body.id as string;
    // A reminder for a session that never talked: refused for good (dead) on its first attempt.
    const nowhere = { ...reminder, action: { ...reminder.action, session_key: `${s.tenant.tenantId}/${s.agentId}/telegram/${s.accountId}/dm:${newChatId()}` } };
    const dead = expectStatus(await admin(s.tenant.owner, "POST", "/jobs", nowhere), 201).body.id as string;
    // A `record` job, settled by the shard in place.
    const recorded = expectStatus(await admin(s.tenant.owner, "POST", "/jobs", { tenant_id: s.tenant.tenantId, schedule: { kind: "once", delay_ms: 200 }, action: { kind: "record" } }), 201).body.id as string;

    const rows = await waitForAudit(s.tenant.owner, `tenant_id=${s.tenant.tenantId}&action=job.run&actor=scheduler`, (r) => r.length >= 3);
    expect(rows).toHaveLength(3);
    const byJob = new Map(rows.map((r) => [r.metadata.job_id, r]));
    expect(byJob.get(ok)).toMatchObject({ kind: "data", target: `job:${ok}`, metadata: { action_kind: "reminder", attempt: 1, outcome: "ok", manual: false, error: null } });
    expect(byJob.get(dead)).toMatchObject({ target: `job:${dead}`, metadata: { action_kind: "reminder", outcome: "dead", error: "session has no conversation to send to yet" } });
    expect(byJob.get(recorded)).toMatchObject({ target: `job:${recorded}`, metadata: { action_kind: "record", attempt: 1, outcome: "ok", error: null } });
    // A reminder names its session key in the job, never in the audit row.
    expectNoRawId(rows, chat);
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2);
  }, 30_000);

  it("DM pairing: code issued, denied while pending (once an hour however often asked), approved when the session takes the admin's approval", async () => {
    const s = await setupTelegram({ agent: { dm_policy: "pairing" } });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "let me in"));
    const first = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    const code = /pairing code is ([A-Z0-9]{8})/.exec(first[0]?.text ?? "")?.[1] as string;
    // Three more messages while the code is pending, each answered (reminded of the code) in its
    // own turn: one pairing.denied row for all of them (at most one an hour per pairing).
    for (let i = 0; i < 3; i++) {
      await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, `please ${i}`));
      await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2 + i);
    }
    expectStatus(await admin(s.tenant.owner, "POST", "/pairings/approve", { tenant_id: s.tenant.tenantId, code }), 200);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "hello again"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 5);

    const rows = await waitForAudit(s.tenant.owner, `tenant_id=${s.tenant.tenantId}&action=pairing.&kind=data`, (r) => r.length >= 3);
    expect(rows.map((r) => r.action).sort()).toEqual(["pairing.approved", "pairing.code_issued", "pairing.denied"]);
    const pairingId = expectStatus(await admin(s.tenant.owner, "GET", `/pairings?tenant_id=${s.tenant.tenantId}`), 200).body.data[0].id;
    for (const r of rows) {
      expect(r).toMatchObject({ actor: `agent:${s.agentId}`, metadata: { agent_id: s.agentId, channel: "telegram", account_id: s.accountId, pairing_id: pairingId } });
      expect(r.target).toMatch(PSEUDONYMOUS_TARGET);
    }
    // The code is a credential of sorts: never in the log.
    expect(JSON.stringify(rows)).not.toContain(code);
    expectNoRawId(rows, chat);
    // The admin's own approval rows and these name the same pseudonym.
    const adminRow = (await waitForAudit(s.tenant.owner, `tenant_id=${s.tenant.tenantId}&action=pairing.approve.done&kind=admin`, (r) => r.length >= 1))[0];
    expect(adminRow?.metadata.subject).toBe(rows[0]!.metadata.subject);
    // The approval reached the session through the approve route's call: the next message was
    // answered without asking D1, and nothing was denied after it.
    expect(ofAction(rows, "pairing.denied")).toHaveLength(1);
  }, 30_000);
});
