// Session state through the admin API: compaction within the token budget, export, snapshots,
// erase (with its audit row), DM policies (pairing, allowlist), idle expiry and model failure.
import { describe, expect, it } from "vitest";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "./helpers.ts";

const enc = encodeURIComponent;

describe("sessions", () => {
  it("compacts history through the model router and keeps it within the budget", async () => {
    const budget = 200;
    const s = await setupTelegram({ agent: { history_token_budget: budget } });
    const chat = newChatId();
    for (let i = 0; i < 12; i++) {
      await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, `turn ${i}: ${"lorem ipsum dolor sit amet ".repeat(3)}`));
    }
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 12, 60_000);
    const exported = await waitFor(
      () => admin(s.tenant.owner, "GET", `/sessions/${enc(sessionKeyFor(s, chat))}/export`),
      (e) => e.body.history.reduce((n: number, h: any) => n + h.tokens, 0) <= budget,
    );
    const history = exported.body.history as { role: string; content: string; tokens: number; summary: number }[];
    expect(history.reduce((n, h) => n + h.tokens, 0)).toBeLessThanOrEqual(budget);
    // The oldest entry is the summary the model wrote (the fake echoes its input), and the
    // latest exchange is still verbatim.
    expect(history[0]?.summary).toBe(1);
    expect(history[0]?.content).toMatch(/^Summary of the earlier conversation: echo: /);
    expect(history.at(-1)?.content).toMatch(/^echo: turn 11: /);
    expect(history.at(-2)?.content).toMatch(/^turn 11: /);
  }, 90_000);

  it("exports, snapshots and restores, then erases a session leaving only an audit row", async () => {
    const s = await setupTelegram();
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "first"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    const snap = expectStatus(await admin(s.tenant.owner, "POST", `/sessions/${enc(key)}/snapshots`), 201);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "second"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2);
    let exported = await admin(s.tenant.owner, "GET", `/sessions/${enc(key)}/export`);
    expect(exported.body).toMatchObject({ key, agent_id: s.agentId, account_id: s.accountId, profile: { id: String(chat), name: "Ada" } });
    expect(exported.body.history).toHaveLength(4);
    expect(exported.body.outbox.map((o: any) => [o.state, o.receipt !== null])).toEqual([["sent", true], ["sent", true]]);
    expectStatus(await admin(s.tenant.owner, "POST", `/sessions/${enc(key)}/snapshots/${snap.body.id}/restore`), 200);
    exported = await admin(s.tenant.owner, "GET", `/sessions/${enc(key)}/export`);
    expect(exported.body.history.map((h: any) => h.content)).toEqual(["first", "echo: first"]);

    // Another tenant's admin cannot see it.
    const { token } = await import("../gateway/helpers.ts");
    const stranger = await token({ sub: "x", role: "admin", tenant: "someone-else" });
    expect((await admin(stranger, "GET", `/sessions/${enc(key)}/export`)).status).toBe(404);

    const erased = expectStatus(await admin(s.tenant.owner, "DELETE", `/sessions/${enc(key)}`), 200);
    expect(erased.body.removed).toEqual({ messages: 2, history: 2, outbox: 2 });
    exported = await admin(s.tenant.owner, "GET", `/sessions/${enc(key)}/export`);
    expect(exported.body).toMatchObject({ key: null, history: [], inbox: [], outbox: [], profile: null });
    expect((await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data).toEqual([]);
    const audit = await admin(s.tenant.owner, "GET", `/audit?tenant_id=${s.tenant.tenantId}`);
    // The audit rows name the session with its peer replaced by a pseudonym (test/gateway/audit.test.ts).
    const row = audit.body.data.find((a: any) => a.action === "session.erase.done");
    expect(row).toMatchObject({ target: expect.stringMatching(/\/sub_[0-9a-f]{24}$/), metadata: { messages: 2, history: 2, outbox: 2 } });
    expect(row.target).not.toContain(String(chat));
    expect(JSON.stringify(row)).not.toContain("first");
  });

  it("pairing: an unknown sender gets a one-time code; after an admin approves it, the agent answers", async () => {
    const s = await setupTelegram({ agent: { dm_policy: "pairing" } });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "let me in"));
    const first = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    const code = /pairing code is ([A-Z0-9]{8})/.exec(first[0]?.text ?? "")?.[1] as string;
    expect(code).toBeTruthy();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "please"));
    const second = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2);
    expect(second[1]?.text).toContain(code);
    const listed = await admin(s.tenant.owner, "GET", `/pairings?tenant_id=${s.tenant.tenantId}`);
    expect(listed.body.data).toMatchObject([{ peer_id: String(chat), code, status: "pending" }]);
    expect((await admin(s.tenant.owner, "POST", "/pairings/approve", { tenant_id: s.tenant.tenantId, code: "ZZZZZZZZ" })).status).toBe(404);
    expectStatus(await admin(s.tenant.owner, "POST", "/pairings/approve", { tenant_id: s.tenant.tenantId, code }), 200);
    expect((await admin(s.tenant.owner, "POST", "/pairings/approve", { tenant_id: s.tenant.tenantId, code })).status).toBe(404);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "hello again"));
    const third = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 3);
    expect(third[2]?.text).toBe("echo: hello again");
    // The pairing turns never reached the model's history.
    const exported = await admin(s.tenant.owner, "GET", `/sessions/${enc(sessionKeyFor(s, chat))}/export`);
    expect(exported.body.history.map((h: any) => h.content)).toEqual(["hello again", "echo: hello again"]);
  });

  it("allowlist: only listed senders are answered", async () => {
    const listed = newChatId();
    const other = newChatId();
    const s = await setupTelegram({ agent: { dm_policy: "allowlist", allowlist: [String(listed)] } });
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), other, "hi"));
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), listed, "hi"));
    await waitFor(() => sentTo(s.token, listed), (m) => m.length >= 1);
    const ignored = await waitFor(
      () => admin(s.tenant.owner, "GET", `/sessions/${enc(sessionKeyFor(s, other))}/export`),
      (e) => e.body.inbox[0]?.state === "ignored",
    );
    expect(ignored.body.inbox[0].state).toBe("ignored");
    expect(await sentTo(s.token, other)).toEqual([]);
  });

  it("the most specific binding wins: peer over account over tenant default", async () => {
    const s = await setupTelegram();
    const vip = newChatId();
    const owner = s.tenant.owner;
    const special = expectStatus(await admin(owner, "POST", "/agents", { tenant_id: s.tenant.tenantId, name: "vip", system_prompt: "", model: "house-model" }), 201);
    const accountAgent = expectStatus(await admin(owner, "POST", "/agents", { tenant_id: s.tenant.tenantId, name: "acct", system_prompt: "", model: "fake-echo" }), 201);
    expectStatus(await admin(owner, "POST", "/bindings", { tenant_id: s.tenant.tenantId, agent_id: accountAgent.body.id, channel: "telegram", account_id: s.accountId }), 201);
    expectStatus(await admin(owner, "POST", "/bindings", { tenant_id: s.tenant.tenantId, agent_id: special.body.id, channel: "telegram", peer_id: String(vip) }), 201);
    // The tenant default exists already (setupTelegram made it): a second one is refused.
    expect((await admin(owner, "POST", "/bindings", { tenant_id: s.tenant.tenantId, agent_id: special.body.id })).status).toBe(409);
    const plain = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), vip, "vip here"));
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), plain, "plain here"));
    await waitFor(() => sentTo(s.token, vip), (m) => m.length >= 1);
    await waitFor(() => sentTo(s.token, plain), (m) => m.length >= 1);
    const keys = (await admin(owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: any) => x.agent_id).sort();
    expect(keys).toEqual([special.body.id, accountAgent.body.id].sort());
  });

  it("expires an idle session after the agent's TTL", async () => {
    const s = await setupTelegram({ agent: { session_ttl_s: 1 } });
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "short-lived"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    const gone = await waitFor(
      () => admin(s.tenant.owner, "GET", `/sessions/${enc(key)}/export`),
      (e) => e.body.key === null,
      10_000,
      250,
    );
    expect(gone.body).toMatchObject({ key: null, history: [], inbox: [] });
    expect((await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data).toEqual([]);
  });

  it("a model that keeps failing still gets the sender one answer", async () => {
    const s = await setupTelegram({ agent: { model: "fake-status-500" } });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "anyone there?"));
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 30_000);
    expect(sent.map((m) => m.text)).toEqual(["Sorry, I could not answer this message. Please try again later."]);
    const exported = await admin(s.tenant.owner, "GET", `/sessions/${enc(sessionKeyFor(s, chat))}/export`);
    expect(exported.body.inbox[0]).toMatchObject({ state: "done", attempts: 4 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await sentTo(s.token, chat)).toHaveLength(1);
  }, 60_000);
});

describe("proactive messages", () => {
  it("notify puts one intent per idempotency key on the session's outbox, after the replies", async () => {
    const { env } = await import("cloudflare:workers");
    const s = await setupTelegram();
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
    expect(await stub.notify("sched:job1:1", "too early")).toBe("unbound");
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "remind me"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    expect(await stub.notify("sched:job1:2", "Reminder: stretch.")).toBe("queued");
    expect(await stub.notify("sched:job1:2", "Reminder: stretch.")).toBe("duplicate");
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2);
    expect(sent.map((m) => m.text)).toEqual(["echo: remind me", "Reminder: stretch."]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await sentTo(s.token, chat)).toHaveLength(2);
  });
});
