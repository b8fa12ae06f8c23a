// Issue 10 item 9: limits on the public ingress. The attacks from the review, replayed: a
// 200-frame burst on one WebChat socket, a queue stuffed with messages, fresh visitor ids to
// mint sessions, hook requests without end, and a flood that spends an account's per-location
// window. Each account sets small limits of its own (channel_accounts.limits) so the tests stay
// quick; the refill rates are slow enough that no token comes back during a test.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, call, expectStatus } from "../gateway/helpers.ts";
import { connect, deliver, dmUpdate, exportSession, handedOn, hookHeaders, newChatId, newPeer, newUpdateId, openSocket, scenarioModel, sessionKeyFor, setupChannel, setupTelegram, waitFor } from "./helpers.ts";

function retryAfterOf(res: { headers: Headers }): number {
  const header = res.headers.get("retry-after");
  expect(header).not.toBeNull();
  return Number(header);
}

describe("public ingress limits", () => {
  it("a 200-frame WebChat burst is cut off after the session's burst: only those reach the inbox and the model", async () => {
    const burst = 10;
    // One message a minute after the burst: none comes back while the test runs.
    const s = await setupChannel("webchat", { limits: { peer_burst: burst, peer_messages_per_min: 1, inbox_max: 500 } });
    const scn = await scenarioModel(s.tenant);
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const peer = newPeer();
    const sock = await connect(s.accountId, peer);
    for (let i = 0; i < 200; i++) sock.ws.send(JSON.stringify({ type: "message", id: `m${i}`, text: `spam ${i}` }));
    await waitFor(async () => sock.frames.filter((f) => f.type === "ack" || f.type === "error").length, (n) => n >= 200, 30_000);
    const acks = sock.frames.filter((f) => f.type === "ack");
    const errors = sock.frames.filter((f) => f.type === "error");
    expect(acks.map((a) => a.id)).toEqual(Array.from({ length: burst }, (_, i) => `m${i}`));
    expect(errors).toHaveLength(200 - burst);
    expect(errors[0]).toMatchObject({ type: "error", id: `m${burst}`, code: "session_rate_limited" });
    expect(errors.every((e) => e.code === "session_rate_limited" && e.retry_after_ms > 0)).toBe(true);
    await waitFor(async () => sock.frames.filter((f) => f.type === "reply").length, (n) => n >= burst, 30_000);
    const state = await exportSession(s.tenant.owner, `${s.tenant.tenantId}/${s.agentId}/webchat/${s.accountId}/dm:${peer}`);
    expect(state.inbox).toHaveLength(burst);
    expect(await scn.calls()).toBe(burst);
    sock.ws.close(1000, "bye");
  }, 60_000);

  it("a session's inbox cap refuses hook runs with 429 and Retry-After while its queue is full", async () => {
    const s = await setupChannel("hook", { limits: { inbox_max: 3, peer_burst: 100 } });
    // Turns take long enough that none of the queued runs is answered during the burst.
    const scn = await scenarioModel(s.tenant, { mode: "delay", delay_ms: 5000 });
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await call("POST", "/hooks/agent", { body: { text: `run ${i}`, peer: "ci" }, headers: hookHeaders(s.token, `k${i}`) }));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 429, 429, 429]);
    expect(answers[3]?.body.error.code).toBe("inbox_full");
    expect(retryAfterOf(answers[3]!)).toBeGreaterThanOrEqual(1);
    const state = await exportSession(s.tenant.owner, `${s.tenant.tenantId}/${s.agentId}/hook/${s.accountId}/dm:ci`);
    expect(state.inbox.map((m: any) => m.msg_id)).toEqual(["k0", "k1", "k2"]);
  }, 30_000);

  it("new visitor ids beyond the account's new-session cap are refused; known visitors still connect", async () => {
    const s = await setupChannel("webchat", { limits: { new_sessions_per_min: 3 } });
    const peers = [newPeer(), newPeer(), newPeer()];
    for (const peer of peers) {
      const res = await openSocket(s.accountId, peer);
      expect(res.status).toBe(101);
      (res.webSocket as WebSocket).accept();
      (res.webSocket as WebSocket).close(1000, "bye");
    }
    const refused = await openSocket(s.accountId, newPeer());
    expect(refused.status).toBe(429);
    expect(retryAfterOf(refused)).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as any).error.code).toBe("too_many_new_sessions");
    const known = await openSocket(s.accountId, peers[0] as string);
    expect(known.status).toBe(101);
    (known.webSocket as WebSocket).accept();
    (known.webSocket as WebSocket).close(1000, "bye");
  }, 30_000);

  it("new Telegram chats beyond the cap are acknowledged but not recorded", async () => {
    const s = await setupTelegram({ limits: { new_sessions_per_min: 2 } });
    const chats = [newChatId(), newChatId(), newChatId()];
    const statuses = [];
    for (const chat of chats) statuses.push(((await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "hi"))).json()) as any).status);
    // A new chat's message is acknowledged once the account's ledger holds it; the cap is applied
    // when the ledger hands it to its session, which records the first two only.
    expect(statuses).toEqual(["accepted", "accepted", "accepted"]);
    expect(await handedOn(s.accountId)).toBe(0);
    const inboxes = await Promise.all(chats.map(async (chat) => (await exportSession(s.tenant.owner, sessionKeyFor(s, chat))).inbox.length));
    expect(inboxes).toEqual([1, 1, 0]);
  }, 30_000);

  it("hook requests over the account's per-minute limit get 429 with Retry-After", async () => {
    const s = await setupChannel("hook", { limits: { hooks_per_min: 3 } });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await call("POST", "/hooks/agent", { body: { text: "x", peer: `p${i}` }, headers: hookHeaders(s.token, `h${i}`) }));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 429, 429]);
    expect(answers[3]?.body.error.code).toBe("hook_rate_limited");
    const wait = retryAfterOf(answers[3]!);
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    // Another account of the same kind is not affected.
    const other = await setupChannel("hook", { limits: { hooks_per_min: 3 } });
    expect((await call("POST", "/hooks/agent", { body: { text: "x" }, headers: hookHeaders(other.token, "o1") })).status).toBe(202);
  }, 30_000);

  it("an account whose per-location window (the CHANNEL_INGRESS binding) is spent gets 429 with Retry-After", async () => {
    const hook = await setupChannel("hook");
    const gate = env.CHANNEL_INGRESS as RateLimit;
    expect(gate).toBeDefined();
    // The binding counts in wall-clock windows of 60 s: start right after a boundary when too
    // little of the current one is left to spend it (and ask) before it rolls over.
    const leftMs = 60_000 - (Date.now() % 60_000);
    if (leftMs < 40_000) await new Promise((r) => setTimeout(r, leftMs + 200));
    // Spend the account's window the way a flood would (vitest.config.ts: 1,500 a minute).
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 500 }, () => gate.limit({ key: hook.accountId })));
    const hookAnswer = await call("POST", "/hooks/agent", { body: { text: "x" }, headers: hookHeaders(hook.token, "g1") });
    expect(hookAnswer.status).toBe(429);
    expect(hookAnswer.body.error.code).toBe("channel_rate_limited");
    expect(retryAfterOf(hookAnswer)).toBe(60);
    // The gate is per account: another one is untouched.
    const other = await setupChannel("hook");
    expect((await call("POST", "/hooks/agent", { body: { text: "x" }, headers: hookHeaders(other.token, "g1") })).status).toBe(202);
  }, 90_000);
});

describe("a new session's admission wait", () => {
  it("does not let concurrent deliveries of one message both record it", async () => {
    // A session's first message waits for the account's new-session admission (another Durable
    // Object); the same message delivered again meanwhile is a duplicate, not a UNIQUE failure.
    const s = await setupChannel("hook");
    expectStatus(await call("POST", "/hooks/agent", { body: { text: "first", peer: "race" }, headers: hookHeaders(s.token, "race-0") }), 202);
    const key = `${s.tenant.tenantId}/${s.agentId}/hook/${s.accountId}/dm:race`;
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
    const results: { status: string }[] = await runInDurableObject(stub, async (object) => {
      const instance = object as any;
      const meta = (k: string) => JSON.parse(instance.sql.exec("SELECT v FROM meta WHERE k = ?", k).one().v);
      const binding = { key, agent: meta("agent"), account: meta("account") };
      const message = { ...JSON.parse(instance.sql.exec("SELECT message FROM inbox WHERE msg_id = 'race-0'").one().message), messageId: "race-1" };
      // As before the session's first message: the admission is asked again.
      instance.sql.exec("DELETE FROM meta WHERE k = 'created_at'");
      instance.created = undefined;
      return Promise.all([instance.accept(binding, message), instance.accept(binding, message), instance.accept(binding, message)]);
    });
    expect(results.map((r) => r.status).sort()).toEqual(["accepted", "duplicate", "duplicate"]);
  });
});
