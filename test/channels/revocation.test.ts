// Issue 10 item 4 (channels and agents): a revoked tenant makes no model call and sends nothing.
// Each entry point is attacked with work queued before the revocation: a model call is held in
// flight by a slow scripted upstream (fake-scn-*, delay), a second message waits behind it, then
// the owner revokes the tenant. The fake upstream's call count and the fake Telegram's recorded
// sends (or the hook callback's recorded posts) prove what did and did not happen.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callModel } from "../../workers/agents/model-call.ts";
import { ApiError } from "../../workers/http/errors.ts";
import { admin, call, expectStatus, makeTenant, ownerToken, uid } from "../gateway/helpers.ts";
import {
  connect,
  deliver,
  dmUpdate,
  exportSession,
  hookHeaders,
  newChatId,
  newUpdateId,
  openSocket,
  scenarioModel,
  sentTo,
  sessionKeyFor,
  setupChannel,
  setupTelegram,
  waitFor,
} from "./helpers.ts";

// Long enough that the second message is certainly still queued when the revocation lands,
// even on a loaded machine; the test waits for the call to start before it revokes.
const HELD_MS = 3000;

async function revoke(tenantId: string): Promise<void> {
  expectStatus(await admin(await ownerToken(), "POST", `/tenants/${tenantId}/revoke`), 200);
}

async function deadLettersOf(tenantId: string): Promise<any[]> {
  return expectStatus(await admin(await ownerToken(), "GET", `/dead-letters?tenant_id=${tenantId}`), 200).body.data;
}

describe("revoking a tenant stops its channels", () => {
  it("Telegram: a message queued before the revocation makes no model call, the in-flight reply is dead-lettered, nothing is sent", async () => {
    const s = await setupTelegram();
    const scn = await scenarioModel(s.tenant, { mode: "delay", delay_ms: HELD_MS });
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const chat = newChatId();
    expect((await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "first"))).json()) as any).toMatchObject({ status: "accepted" });
    expect(await waitFor(scn.calls, (n) => n >= 1)).toBe(1);
    expect((await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "queued"))).json()) as any).toMatchObject({ status: "accepted" });

    await revoke(s.tenant.tenantId);

    // After the revocation: answered 200 (so Telegram stops retrying), nothing recorded.
    const late = await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "after"));
    expect(late.status).toBe(200);
    expect(await late.json()).toEqual({ ok: true, status: "tenant_revoked" });

    const key = sessionKeyFor(s, chat);
    const state = await waitFor(
      () => exportSession(s.tenant.owner, key),
      (e) => e.inbox.every((m: any) => m.state !== "queued") && e.outbox.length > 0 && e.outbox.every((o: any) => o.state === "dead"),
      HELD_MS + 20_000,
    );
    expect(state.inbox.map((m: any) => m.state)).toEqual(["done", "refused"]);
    expect(state.outbox.map((o: any) => [o.state, o.last_error])).toEqual([["dead", "tenant revoked: not sent"]]);
    expect(await scn.calls()).toBe(1);
    expect(await sentTo(s.token, chat)).toEqual([]);
    const dead = await deadLettersOf(s.tenant.tenantId);
    expect(dead.map((d) => d.last_error)).toEqual(["tenant revoked: not sent"]);
  }, 60_000);

  it("hooks: refused with 403 after the revocation; a run queued before it makes no model call and posts no callback", async () => {
    const s = await setupChannel("hook");
    const scn = await scenarioModel(s.tenant, { mode: "delay", delay_ms: HELD_MS });
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const name = `cb-${crypto.randomUUID()}`;
    const callback_url = `${env.FAKE_TELEGRAM_URL}/callbacks/${name}`;
    expectStatus(await call("POST", "/hooks/agent", { body: { text: "one", peer: "ci", callback_url }, headers: hookHeaders(s.token, "r1") }), 202);
    expect(await waitFor(scn.calls, (n) => n >= 1)).toBe(1);
    const queued = expectStatus(await call("POST", "/hooks/agent", { body: { text: "two", peer: "ci", callback_url }, headers: hookHeaders(s.token, "r2") }), 202);

    await revoke(s.tenant.tenantId);

    const late = await call("POST", "/hooks/agent", { body: { text: "three", peer: "ci", callback_url }, headers: hookHeaders(s.token, "r3") });
    expect(late.status).toBe(403);
    expect(late.body.error.code).toBe("tenant_revoked");
    expect((await call("GET", queued.body.poll_url, { headers: hookHeaders(s.token) })).status).toBe(403);

    const key = `${s.tenant.tenantId}/${s.agentId}/hook/${s.accountId}/dm:ci`;
    const state = await waitFor(
      () => exportSession(s.tenant.owner, key),
      (e) => e.inbox.every((m: any) => m.state !== "queued") && e.outbox.length > 0 && e.outbox.every((o: any) => o.state === "dead"),
      HELD_MS + 20_000,
    );
    expect(state.inbox.map((m: any) => [m.msg_id, m.state])).toEqual([
      ["r1", "done"],
      ["r2", "refused"],
    ]);
    expect(await scn.calls()).toBe(1);
    const posted = (await (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${name}`)).json()) as unknown[];
    expect(posted).toEqual([]);
  }, 60_000);

  it("WebChat: the page and new sockets answer 403; a frame on an open socket gets an error and the socket closes; the queued message makes no model call", async () => {
    const s = await setupChannel("webchat");
    const scn = await scenarioModel(s.tenant, { mode: "delay", delay_ms: HELD_MS });
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const peer = crypto.randomUUID().replace(/-/g, "");
    const sock = await connect(s.accountId, peer);
    sock.ws.send(JSON.stringify({ type: "message", id: "m1", text: "one" }));
    expect(await waitFor(scn.calls, (n) => n >= 1)).toBe(1);
    sock.ws.send(JSON.stringify({ type: "message", id: "m2", text: "two" }));
    await waitFor(async () => sock.frames.filter((f) => f.type === "ack").length, (n) => n >= 2);

    await revoke(s.tenant.tenantId);

    sock.ws.send(JSON.stringify({ type: "message", id: "m3", text: "three" }));
    await waitFor(async () => sock.closed(), (c) => c);
    expect(sock.frames.filter((f) => f.type === "error")).toEqual([{ type: "error", code: "tenant_revoked", message: "This chat is no longer available." }]);
    const again = await openSocket(s.accountId, peer);
    expect(again.status).toBe(403);
    expect(((await again.json()) as any).error.code).toBe("tenant_revoked");
    expect((await call("GET", `/webchat/${s.accountId}`)).status).toBe(403);

    const key = `${s.tenant.tenantId}/${s.agentId}/webchat/${s.accountId}/dm:${peer}`;
    const state = await waitFor(
      () => exportSession(s.tenant.owner, key),
      (e) => e.inbox.every((m: any) => m.state !== "queued") && e.outbox.length > 0 && e.outbox.every((o: any) => o.state === "dead"),
      HELD_MS + 20_000,
    );
    expect(state.inbox.map((m: any) => [m.msg_id, m.state])).toEqual([
      ["m1", "done"],
      ["m2", "refused"],
    ]);
    expect(await scn.calls()).toBe(1);
    expect(sock.frames.filter((f) => f.type === "reply")).toEqual([]);
  }, 60_000);

  it("no channel account, agent or binding is created for a revoked or unknown tenant", async () => {
    const t = await makeTenant();
    const agent = expectStatus(await admin(t.owner, "POST", "/agents", { tenant_id: t.tenantId, name: "a", system_prompt: "", model: "fake-echo" }), 201);
    await revoke(t.tenantId);
    const owner = await ownerToken();
    for (const tenant_id of [t.tenantId, uid("ten-missing")]) {
      const expected = tenant_id === t.tenantId ? [409, "tenant_revoked"] : [404, "tenant_not_found"];
      const attempts = [
        await admin(owner, "POST", "/channel-accounts", { tenant_id, channel: "webchat", name: "late" }),
        await admin(owner, "POST", "/agents", { tenant_id, name: "late", system_prompt: "", model: "fake-echo" }),
        await admin(owner, "POST", "/bindings", { tenant_id, agent_id: agent.body.id }),
      ];
      expect(attempts.map((a) => [a.status, a.body.error?.code])).toEqual([expected, expected, expected]);
    }
  });

  it("callModel itself refuses a revoked tenant before reaching the router", async () => {
    const t = await makeTenant();
    const scn = await scenarioModel(t);
    await revoke(t.tenantId);
    const attempt = callModel(env, {
      tenantId: t.tenantId,
      agentId: "agt_x",
      model: scn.model,
      messages: [{ role: "user", content: "hi" }],
      maxTokens: 8,
      requestId: `turn-${crypto.randomUUID()}`,
      sessionKey: "k",
      waitUntil: () => {},
    });
    await expect(attempt).rejects.toBeInstanceOf(ApiError);
    await expect(attempt).rejects.toMatchObject({ status: 403, code: "tenant_revoked" });
    expect(await scn.calls()).toBe(0);
  });
});
