// Telegram webhooks end to end inside workerd: signature checks, dedupe of retried updates,
// group addressing, commands, and the reply at the fake Bot API.
import { describe, expect, it } from "vitest";
import { admin } from "../gateway/helpers.ts";
import { deliver, dmUpdate, groupUpdate, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "./helpers.ts";

describe("telegram webhook", () => {
  it("rejects a missing or wrong secret token and an unknown account, and records nothing", async () => {
    const s = await setupTelegram();
    const chat = newChatId();
    const missing = await deliver(s.accountId, null, dmUpdate(newUpdateId(), chat, "hi"));
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as any).error.code).toBe("invalid_signature");
    const wrong = await deliver(s.accountId, `${s.secret}x`, dmUpdate(newUpdateId(), chat, "hi"));
    expect(wrong.status).toBe(401);
    const other = await deliver("chn_doesnotexist", s.secret, dmUpdate(newUpdateId(), chat, "hi"));
    expect(other.status).toBe(404);
    const exported = await admin(s.tenant.owner, "GET", `/sessions/${encodeURIComponent(sessionKeyFor(s, chat))}/export`);
    expect(exported.status).toBe(200);
    expect(exported.body.inbox).toEqual([]);
  });

  it("answers an update delivered three times exactly once, and a later replay is recognised", async () => {
    const s = await setupTelegram();
    const chat = newChatId();
    const update = dmUpdate(newUpdateId(), chat, "hello there");
    const answers = await Promise.all([deliver(s.accountId, s.secret, update), deliver(s.accountId, s.secret, update), deliver(s.accountId, s.secret, update)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const statuses = await Promise.all(answers.map(async (a) => ((await a.json()) as any).status));
    expect(statuses.filter((x) => x === "accepted")).toHaveLength(1);
    expect(statuses.filter((x) => x === "duplicate")).toHaveLength(2);
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.text).toBe("echo: hello there");
    // The platform retries long after the reply went out: still the same message.
    const replay = await deliver(s.accountId, s.secret, update);
    expect(((await replay.json()) as any).status).toBe("duplicate");
    await new Promise((r) => setTimeout(r, 300));
    expect(await sentTo(s.token, chat)).toHaveLength(1);
  });

  it("answers in groups only when mentioned or replied to, replying to the message", async () => {
    const s = await setupTelegram();
    const group = -newChatId();
    const quiet = await deliver(s.accountId, s.secret, groupUpdate(newUpdateId(), group, 7, "just chatting"));
    expect(((await quiet.json()) as any).status).toBe("ignored");
    const mentionText = "@edgeclaw_bot what time is it";
    const mention = groupUpdate(newUpdateId(), group, 7, mentionText, { entities: [{ type: "mention", offset: 0, length: 13 }] });
    expect(((await (await deliver(s.accountId, s.secret, mention)).json()) as any).status).toBe("accepted");
    const replied = groupUpdate(newUpdateId(), group, 8, "and tomorrow?", { reply_to_message: { message_id: 1, from: { id: 99, is_bot: true, username: "edgeclaw_bot" } } });
    expect(((await (await deliver(s.accountId, s.secret, replied)).json()) as any).status).toBe("accepted");
    const sent = await waitFor(() => sentTo(s.token, group), (m) => m.length >= 2);
    expect(sent.map((m) => m.text)).toEqual([`echo: ${mentionText}`, "echo: and tomorrow?"]);
    expect(sent[0]?.reply_to).toBe(mention.message.message_id);
    // One group, one shared session.
    const sessions = await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`);
    expect(sessions.body.data.map((x: any) => x.key)).toEqual([`${s.tenant.tenantId}/${s.agentId}/telegram/${s.accountId}/group:${group}`]);
  });

  it("handles /start and /reset, and keeps direct messages isolated per person", async () => {
    const s = await setupTelegram();
    const alice = newChatId();
    const bob = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), alice, "/start"));
    await waitFor(() => sentTo(s.token, alice), (m) => m.length >= 1);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), alice, "remember me"));
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), bob, "I am bob"));
    await waitFor(() => sentTo(s.token, alice), (m) => m.length >= 2);
    await waitFor(() => sentTo(s.token, bob), (m) => m.length >= 1);
    const aliceKey = encodeURIComponent(sessionKeyFor(s, alice));
    const before = await admin(s.tenant.owner, "GET", `/sessions/${aliceKey}/export`);
    expect(before.body.history.map((h: any) => h.content)).toEqual(["remember me", "echo: remember me"]);
    const bobState = await admin(s.tenant.owner, "GET", `/sessions/${encodeURIComponent(sessionKeyFor(s, bob))}/export`);
    expect(bobState.body.history.map((h: any) => h.content)).toEqual(["I am bob", "echo: I am bob"]);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), alice, "/reset"));
    const sent = await waitFor(() => sentTo(s.token, alice), (m) => m.length >= 3);
    expect(sent[0]?.text).toMatch(/^Hi!/);
    expect(sent[2]?.text).toMatch(/starts over/);
    const after = await admin(s.tenant.owner, "GET", `/sessions/${aliceKey}/export`);
    expect(after.body.history).toEqual([]);
  });
});
