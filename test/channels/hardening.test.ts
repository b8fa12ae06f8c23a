// Issue 10 items 13 (smaller channel holes) and 8 (outbound URLs a hook caller or a tenant admin
// supplies for the channels): each test replays the attack through the public interface.
import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, BASE, call, expectStatus, makeTenant } from "../gateway/helpers.ts";
import { deliver, dmUpdate, exportSession, hookHeaders, newChatId, newUpdateId, sentTo, sessionKeyFor, setupChannel, setupTelegram, waitFor } from "./helpers.ts";

const BAD_URLS = [
  "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
  "https://169.254.169.254/latest/meta-data/",
  "https://10.0.0.5/callback",
  "https://192.168.1.1/callback",
  "https://[::1]/callback",
  "https://localhost/callback",
  "http://example.com/callback",
];

describe("hooks read no body before the bearer is checked", () => {
  it("answers 401 to an unauthenticated request whose body never ends, without reading it", async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x7b));
        // Never closes: a handler that reads the body first never answers.
      },
    });
    const res = await Promise.race([
      SELF.fetch(`${BASE}/hooks/agent`, { method: "POST", headers: { authorization: "Bearer ehk_chn_nope.wrong", "idempotency-key": "k" }, body: endless }),
      new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 10_000)),
    ]);
    expect(res).not.toBe("hung");
    expect((res as Response).status).toBe(401);
    expect((((await (res as Response).json()) as any).error.code)).toBe("invalid_token");
    // The transport may buffer a chunk or two ahead; a handler reading the body would have
    // pulled 16 (1 MiB, the hook body limit) before answering 413.
    expect(pulled).toBeLessThan(16);
  });

  it("answers 401, not 413, to a huge body with a wrong token", async () => {
    const s = await setupChannel("hook");
    const res = await call("POST", "/hooks/agent", { body: { text: "x".repeat(2 * 1024 * 1024) }, headers: hookHeaders(`${s.token}x`, "k") });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("invalid_token");
  });
});

describe("Telegram dedupe is per bot", () => {
  it("drops an update_id replayed into another chat of the same bot", async () => {
    const s = await setupTelegram();
    const [chatA, chatB] = [newChatId(), newChatId()];
    const updateId = newUpdateId();
    const first = await deliver(s.accountId, s.secret, dmUpdate(updateId, chatA, "real message"));
    expect(await first.json()).toEqual({ ok: true, status: "accepted" });
    const replay = await deliver(s.accountId, s.secret, dmUpdate(updateId, chatB, "injected into another chat"));
    expect(await replay.json()).toEqual({ ok: true, status: "duplicate" });
    // Telegram's own retry of the original still reaches its session, which knows it.
    const retry = await deliver(s.accountId, s.secret, dmUpdate(updateId, chatA, "real message"));
    expect(await retry.json()).toEqual({ ok: true, status: "duplicate" });
    // A fresh update into chat B is answered; the replay before it never was.
    expect(await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chatB, "hello"))).json()).toEqual({ ok: true, status: "accepted" });
    await waitFor(() => sentTo(s.token, chatB), (m) => m.length >= 1);
    expect((await sentTo(s.token, chatB)).map((m) => m.text)).toEqual(["echo: hello"]);
    expect((await waitFor(() => sentTo(s.token, chatA), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: real message"]);
    const b = await exportSession(s.tenant.owner, sessionKeyFor(s, chatB));
    expect(b.inbox.map((m: any) => m.msg_id)).not.toContain(String(updateId));
  });

  it("keeps update_ids of different bots apart", async () => {
    const one = await setupTelegram();
    const two = await setupTelegram();
    const updateId = newUpdateId();
    expect(await (await deliver(one.accountId, one.secret, dmUpdate(updateId, newChatId(), "a"))).json()).toEqual({ ok: true, status: "accepted" });
    expect(await (await deliver(two.accountId, two.secret, dmUpdate(updateId, newChatId(), "b"))).json()).toEqual({ ok: true, status: "accepted" });
  });
});

describe("dead letters outlive the session", () => {
  it("keeps a dead letter (and what a retry needs) after the session expires, until the retention passes", async () => {
    const s = await setupTelegram({ agent: { session_ttl_s: 1 } });
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    // The user blocked the bot: Telegram answers 403, which is not retried.
    await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(s.token)}/block`, { method: "POST", body: JSON.stringify({ chat_id: chat }) });
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "are you there?"));
    const listDead = async () => expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as any[];
    const dead = await waitFor(listDead, (l) => l.length >= 1);
    expect(dead.map((d) => [d.session_key, d.last_error])).toEqual([[key, expect.stringContaining("403")]]);

    // The session expires (TTL 1 s): its conversation goes, the dead letter stays.
    const expired = await waitFor(() => exportSession(s.tenant.owner, key), (e) => e.history.length === 0, 15_000);
    expect(expired.history).toEqual([]);
    expect(expired.inbox).toEqual([]);
    expect(expired.outbox.map((o: any) => o.state)).toEqual(["dead"]);
    expect((await listDead()).map((d) => d.id)).toEqual(dead.map((d) => d.id));

    // Retention passes (the intent is made older than DEAD_LETTER_RETENTION_S): the expiry alarm
    // now removes the session and its dead letter.
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE outbox SET created_at = 1");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await listDead()).toEqual([]);
    expect((await exportSession(s.tenant.owner, key)).outbox).toEqual([]);
  }, 60_000);

  it("an admin can still retry a dead letter after the session expired", async () => {
    const s = await setupTelegram({ agent: { session_ttl_s: 1 } });
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(s.token)}/block`, { method: "POST", body: JSON.stringify({ chat_id: chat }) });
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "hello?"));
    const dead = await waitFor(
      async () => expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as any[],
      (l) => l.length >= 1,
    );
    await waitFor(() => exportSession(s.tenant.owner, key), (e) => e.history.length === 0, 15_000);
    const retried = expectStatus(await admin(s.tenant.owner, "POST", `/dead-letters/${encodeURIComponent(dead[0].id)}/retry`), 200);
    expect(retried.body).toMatchObject({ action: "retry", found: true });
  }, 60_000);
});

describe("webhook secrets chosen by an admin", () => {
  it("need at least 16 characters", async () => {
    const t = await makeTenant();
    const body = (webhook_secret: string, name: string) => ({ tenant_id: t.tenantId, channel: "telegram", name, token_ref: "TELEGRAM_TEST_BOT", webhook_secret });
    const short = await admin(t.owner, "POST", "/channel-accounts", body("a", "one"));
    expect(short.status).toBe(400);
    expect((await admin(t.owner, "POST", "/channel-accounts", body("x".repeat(15), "two"))).status).toBe(400);
    const ok = expectStatus(await admin(t.owner, "POST", "/channel-accounts", body("s".repeat(16), "three")), 201);
    expect(ok.body.webhook_secret).toBe("s".repeat(16));
  });
});

describe("outbound URLs of hooks and channel accounts", () => {
  it("refuses a hook callback_url to private, metadata, local or plain-http addresses with 400 url_not_allowed", async () => {
    const s = await setupChannel("hook");
    for (const [i, callback_url] of BAD_URLS.entries()) {
      const res = await call("POST", "/hooks/agent", { body: { text: "x", callback_url }, headers: hookHeaders(s.token, `bad-${i}`) });
      expect([callback_url, res.status, res.body.error?.code]).toEqual([callback_url, 400, "url_not_allowed"]);
    }
    // Nothing was recorded for them.
    const key = `${s.tenant.tenantId}/${s.agentId}/hook/${s.accountId}/dm:default`;
    expect((await exportSession(s.tenant.owner, key)).inbox).toEqual([]);
  });

  it("checks a hook's callback_url again before posting the reply", async () => {
    const s = await setupChannel("hook");
    // A message that reached the session some other way than the checked intake (a row written
    // before the policy existed): handed to the session Durable Object over its RPC.
    const key = `${s.tenant.tenantId}/${s.agentId}/hook/${s.accountId}/dm:legacy`;
    const agent = { id: s.agentId, tenantId: s.tenant.tenantId, name: "a", systemPrompt: "", model: "fake-echo", historyTokenBudget: 4000, maxReplyTokens: 64, dmPolicy: "open" as const, allowlist: [], sessionTtlS: 3600, mergeQueued: false };
    const account = { id: s.accountId, tenantId: s.tenant.tenantId, channel: "hook" as const, apiBaseUrl: null, tokenRef: null, botUsername: null, sendIntervalMs: null };
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
    const accepted = await stub.accept({ key, agent, account }, {
      tenantId: s.tenant.tenantId, channel: "hook", accountId: s.accountId, peerId: "legacy", groupId: null, threadId: null, chatId: "legacy",
      messageId: "legacy-1", replyToId: null, text: "hi", command: null, sender: { id: "legacy", name: null }, attachments: [],
      callbackUrl: "http://169.254.169.254/latest/meta-data/", receivedAt: Date.now(),
    });
    expect(accepted.status).toBe("accepted");
    const dead = await waitFor(
      async () => expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as any[],
      (l) => l.length >= 1,
    );
    expect(dead.map((d) => d.last_error)).toEqual([expect.stringMatching(/^callback_url refused: /)]);
  });

  it("does not follow a redirect from a hook's callback_url: the reply is dead-lettered, never posted elsewhere", async () => {
    const s = await setupChannel("hook");
    const name = `redir-${crypto.randomUUID()}`;
    expectStatus(await call("POST", "/hooks/agent", { body: { text: "ping", callback_url: `${env.FAKE_TELEGRAM_URL}/redirect/${name}` }, headers: hookHeaders(s.token, "redir-1") }), 202);
    const dead = await waitFor(
      async () => expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as any[],
      (l) => l.length >= 1,
    );
    expect(dead).toHaveLength(1);
    // The redirect's target never received the reply.
    expect(await (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${name}`)).json()).toEqual([]);
  });

  it("refuses such an api_base_url for a Telegram account, and checks a stored one again before sending the bot token there", async () => {
    const t = await makeTenant();
    for (const [i, api_base_url] of BAD_URLS.entries()) {
      const res = await admin(t.owner, "POST", "/channel-accounts", { tenant_id: t.tenantId, channel: "telegram", name: `bot-${i}`, token_ref: "TELEGRAM_TEST_BOT", api_base_url });
      expect([api_base_url, res.status, res.body.error?.code]).toEqual([api_base_url, 400, "url_not_allowed"]);
    }
    // A row that holds one anyway (written before the policy, or by hand): the send is refused
    // and dead-lettered, the token never leaves.
    const s = await setupTelegram();
    await env.DB.prepare("UPDATE channel_accounts SET api_base_url = ? WHERE id = ?").bind("http://169.254.169.254", s.accountId).run();
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "hi"));
    const dead = await waitFor(
      async () => expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as any[],
      (l) => l.length >= 1,
    );
    expect(dead[0].last_error).toMatch(/^api_base_url refused: /);
    expect(await sentTo(s.token, chat)).toEqual([]);
  });
});
