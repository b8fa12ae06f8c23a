// LINE's webhook end to end inside workerd: signatures made with node:crypto and cross-checked
// with @line/bot-sdk's validateSignature, the console's Verify (empty events), DMs answered with
// the reply token, a turn slower than the token's life answered by push with a retry key, groups
// and rooms answered only when the bot is mentioned, batched events, what is ignored, and the
// admin API's LINE accounts.
import { validateSignature } from "@line/bot-sdk";
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin } from "../gateway/helpers.ts";
import { exportSession, handedOn, scenarioModel, waitFor } from "./helpers.ts";
import {
  deliverLine,
  dm,
  issueReplyToken,
  lineCalls,
  lineReplyTokenTtl,
  lineSent,
  lineSessionKey,
  lineSignature,
  lineUserId,
  messageEvent,
  setupLine,
  statusOf,
  textEvent,
  webhookBody,
  type LineSetup,
} from "./line-helpers.ts";

async function sessions(s: LineSetup): Promise<string[]> {
  return (await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: any) => x.key);
}

describe("line webhook: signatures", () => {
  it("accepts exactly what @line/bot-sdk's validateSignature accepts, refuses the rest with 401; none reaches a session", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const body = JSON.stringify(webhookBody(s, [textEvent(dm(user), "let me in")]));
    const good = lineSignature(s.channelSecret, body);
    const cases: { name: string; body: string; signature: string; ours: boolean }[] = [
      { name: "valid", body, signature: good, ours: true },
      { name: "forged body", body: body.replace("let me in", "let me out"), signature: good, ours: false },
      { name: "wrong secret", body, signature: lineSignature("0".repeat(32), body), ours: false },
      { name: "zero signature", body, signature: Buffer.alloc(32).toString("base64"), ours: false },
      { name: "short signature", body, signature: good.slice(0, 40), ours: false },
      { name: "hex instead of base64", body, signature: Buffer.from(good, "base64").toString("hex"), ours: false },
      { name: "empty", body, signature: "", ours: false },
    ];
    for (const c of cases) {
      // The official SDK and the endpoint agree on every case.
      expect(validateSignature(c.body, s.channelSecret, c.signature), c.name).toBe(c.ours);
      const res = await deliverLine(s, c.body, { signature: c.signature });
      expect(res.status, c.name).toBe(c.ours ? 200 : 401);
      if (!c.ours) expect(((await res.json()) as any).error.code, c.name).toBe("invalid_signature");
    }
    // The valid one was the only message recorded; a delivery with no signature at all is refused too.
    expect((await deliverLine(s, body.replace("let me in", "nope"), { signature: null })).status).toBe(401);
    // (The sessions index is written after the accept: waited for.)
    expect(await waitFor(() => sessions(s), (k) => k.length >= 1)).toEqual([lineSessionKey(s, `dm:${user}`)]);
    // Only the valid delivery was answered: no forged text reached the agent.
    await waitFor(() => lineSent(s), (m) => m.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect((await lineSent(s)).map((m) => m.text)).toEqual(["echo: let me in"]);
  });

  it("forged, wrong-secret and malformed deliveries: 100% refused, none reaches a session or the Messaging API", async () => {
    const s = await setupLine();
    const other = await setupLine();
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const body = JSON.stringify(webhookBody(s, [textEvent(dm(lineUserId()), `attack ${i}`)]));
      // Another channel's secret, a body changed after signing, a signature of nothing.
      const answers = [
        await deliverLine(s, body, { secret: other.channelSecret }),
        await deliverLine(s, body.replace(`attack ${i}`, `attack ${i}!`), { signature: lineSignature(s.channelSecret, body) }),
        await deliverLine(s, body, { signature: lineSignature(s.channelSecret, "") }),
      ];
      for (const res of answers) {
        expect(res.status).toBe(401);
        refused++;
      }
    }
    expect(refused).toBe(60);
    expect(await sessions(s)).toEqual([]);
    expect(await lineSent(s)).toEqual([]);
  });

  it("signed but malformed bodies answer 400 with a JSON error, never a 500, and record nothing", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const bodies = [
      "not json",
      JSON.stringify({ events: [] }),
      JSON.stringify({ destination: s.botUserId, events: "no" }),
      JSON.stringify(webhookBody(s, [{ type: "message", timestamp: Date.now(), source: { type: "user" }, message: { id: "1", type: "text", text: "x" } }])),
      JSON.stringify(webhookBody(s, [{ ...textEvent(dm(user), "hi"), message: { id: "not-digits", type: "text", text: "hi" } }])),
      JSON.stringify(webhookBody(s, [textEvent(dm(user), "x".repeat(10_001))])),
      JSON.stringify(webhookBody(s, Array.from({ length: 101 }, () => ({ type: "follow" })))),
      JSON.stringify(webhookBody(s, [textEvent(dm(user), "hi", { replyToken: "bad token!" })])),
      `${"[".repeat(100)}${"]".repeat(100)}`,
    ];
    for (const body of bodies) {
      const res = await deliverLine(s, body);
      expect(res.status, body.slice(0, 80)).toBe(400);
      expect(((await res.json()) as any).error.code, body.slice(0, 80)).toMatch(/^invalid_/);
    }
    expect(await sessions(s)).toEqual([]);
  });

  it("the console's Verify button (empty events) answers 200 and records nothing", async () => {
    const s = await setupLine();
    const res = await deliverLine(s, webhookBody(s, []));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, status: "ignored" });
    expect(await sessions(s)).toEqual([]);
  });
});

describe("line webhook: messages", () => {
  it("a DM is answered with its reply token (free of the push quota)", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const token = await issueReplyToken(s, user);
    expect(await statusOf(await deliverLine(s, webhookBody(s, [textEvent(dm(user), "hello there", { replyToken: token })])))).toBe("accepted");
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 1);
    expect(sent).toMatchObject([{ to: user, text: "echo: hello there", via: "reply", retryKey: null }]);
    expect(await lineCalls(s)).toMatchObject({ reply: 1, push: 0 });
    const outbox = (await exportSession(s.tenant.owner, lineSessionKey(s, `dm:${user}`))).outbox;
    expect(outbox).toMatchObject([{ state: "sent", receipt: sent[0]?.id }]);
  });

  it("a turn slower than the reply token's life: the refused token falls back to push with a retry key", async () => {
    const s = await setupLine();
    // The fake's tokens last 300 ms; the model takes 1 s: the token is gone when the reply goes.
    await lineReplyTokenTtl(s, 300);
    const slow = await scenarioModel(s.tenant, { mode: "delay", delay_ms: 1_000 });
    expect((await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: slow.model })).status).toBe(200);
    const user = lineUserId();
    const token = await issueReplyToken(s, user);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "take your time", { replyToken: token })]));
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 1);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ via: "push", text: expect.stringContaining("take your time") });
    expect(sent[0]?.retryKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await lineCalls(s)).toMatchObject({ reply: 1, invalidReplyTokens: 1, push: 1 });
  });

  it("an event whose reply token is already past 50 s goes straight to push (no reply call)", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const token = await issueReplyToken(s, user);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "old news", { replyToken: token, timestamp: Date.now() - 55_000 })]));
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 1);
    expect(sent).toMatchObject([{ via: "push", text: "echo: old news" }]);
    expect((await lineCalls(s)).reply).toBe(0);
  });

  it("groups and rooms: ignored unless the bot is mentioned; the mention is cut from the text", async () => {
    const s = await setupLine();
    const group = lineUserId("C");
    const room = lineUserId("R");
    const alice = lineUserId();
    const bob = lineUserId();
    const from = { type: "group" as const, groupId: group, userId: alice };
    const chatter = [
      textEvent(from, "just talking"),
      // Someone else mentioned, and @All: not the bot.
      textEvent(from, "@Bob hi", { mention: [{ index: 0, length: 4, type: "user", userId: bob }] }),
      textEvent(from, "@All lunch?", { mention: [{ index: 0, length: 4, type: "all" }] }),
      messageEvent(from, { type: "image", contentProvider: { type: "line" } }),
    ];
    for (const e of chatter) expect(await statusOf(await deliverLine(s, webhookBody(s, [e])))).toBe("ignored");
    // isSelf marks the bot (LINE sets it for mentions of the receiving bot).
    const token = await issueReplyToken(s, group);
    const asked = textEvent(from, "hey @EdgeClaw what is 2+2?", { replyToken: token, mention: [{ index: 4, length: 9, type: "user", userId: s.botUserId, isSelf: true }] });
    expect(await statusOf(await deliverLine(s, webhookBody(s, [asked])))).toBe("accepted");
    // In a room, a mention by the bot's user id (no isSelf) is enough.
    const inRoom = textEvent({ type: "room", roomId: room, userId: bob }, "@EdgeClaw  ping", { mention: [{ index: 0, length: 9, type: "user", userId: s.botUserId }] });
    expect(await statusOf(await deliverLine(s, webhookBody(s, [inRoom])))).toBe("accepted");
    const groupSent = await waitFor(() => lineSent(s, group), (m) => m.length >= 1);
    expect(groupSent.map((m) => [m.text, m.via])).toEqual([["echo: hey what is 2+2?", "reply"]]);
    const roomSent = await waitFor(() => lineSent(s, room), (m) => m.length >= 1);
    expect(roomSent.map((m) => [m.text, m.via])).toEqual([["echo: ping", "push"]]);
    // One session per group and room, whoever asked.
    expect((await sessions(s)).sort()).toEqual([lineSessionKey(s, `group:${group}`), lineSessionKey(s, `group:${room}`)].sort());
  });

  it("without bot_username the webhook's destination identifies the bot", async () => {
    const s = await setupLine({ botUsername: false });
    const group = lineUserId("C");
    const e = textEvent({ type: "group", groupId: group, userId: lineUserId() }, "@bot status", { mention: [{ index: 0, length: 4, type: "user", userId: s.botUserId }] });
    expect(await statusOf(await deliverLine(s, webhookBody(s, [e])))).toBe("accepted");
    expect((await waitFor(() => lineSent(s, group), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: status"]);
  });

  it("media become placeholders naming the message id; non-message events, standby mode and stickers in groups are acknowledged and ignored", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const image = messageEvent(dm(user), { type: "image", contentProvider: { type: "line" } });
    const file = messageEvent(dm(user), { type: "file", fileName: "report.pdf", fileSize: 100 });
    const place = messageEvent(dm(user), { type: "location", title: "Tokyo Tower", address: "Minato", latitude: 35.6586, longitude: 139.7454 });
    for (const e of [image, file, place]) expect(await statusOf(await deliverLine(s, webhookBody(s, [e])))).toBe("accepted");
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 3);
    expect(sent.map((m) => m.text)).toEqual([
      `echo: [image ${image.message.id}]`,
      `echo: [file: report.pdf (${file.message.id})]`,
      "echo: [location: Tokyo Tower, Minato 35.6586,139.7454]",
    ]);
    const quiet = [
      { type: "follow", timestamp: Date.now(), source: dm(user), webhookEventId: "01FOLLOW", replyToken: "abc", mode: "active" },
      { type: "unfollow", timestamp: Date.now(), source: dm(user), mode: "active" },
      { type: "join", timestamp: Date.now(), source: { type: "group", groupId: lineUserId("C") }, mode: "active" },
      { type: "postback", timestamp: Date.now(), source: dm(user), postback: { data: "x" }, mode: "active" },
      textEvent(dm(user), "someone else answers", { mode: "standby" }),
    ];
    for (const e of quiet) expect(await statusOf(await deliverLine(s, webhookBody(s, [e])))).toBe("ignored");
    await new Promise((r) => setTimeout(r, 300));
    expect(await lineSent(s, user)).toHaveLength(3);
  });

  it("a batched delivery: every message event accepted in order and answered; the others in it ignored", async () => {
    const s = await setupLine();
    const a = lineUserId();
    const b = lineUserId();
    const events = [
      textEvent(dm(a), "a1"),
      { type: "follow", timestamp: Date.now(), source: dm(b), mode: "active" },
      textEvent(dm(b), "b1"),
      textEvent(dm(a), "a2"),
    ];
    const res = await deliverLine(s, webhookBody(s, events));
    expect(res.status).toBe(200);
    const ack = (await res.json()) as any;
    expect(ack.status).toBe("accepted");
    expect(ack.events.map((e: any) => e.status)).toEqual(["accepted", "accepted", "accepted"]);
    expect((await waitFor(() => lineSent(s, a), (m) => m.length >= 2)).map((m) => m.text)).toEqual(["echo: a1", "echo: a2"]);
    expect((await waitFor(() => lineSent(s, b), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: b1"]);
    // The same batch again (a redelivery): all duplicates, nothing new.
    const again = (await (await deliverLine(s, webhookBody(s, events))).json()) as any;
    expect(again.events.map((e: any) => e.status)).toEqual(["duplicate", "duplicate", "duplicate"]);
  });

  it("a batch where one chat is over its limit: that event is refused, the others in the delivery are still accepted", async () => {
    const s = await setupLine({ limits: { peer_messages_per_min: 1, peer_burst: 1 } });
    const a = lineUserId();
    const b = lineUserId();
    // Chat a has started: its next messages go straight to its session, which answers for each.
    expect(((await (await deliverLine(s, webhookBody(s, [textEvent(dm(a), "a0")]))).json()) as any).status).toBe("accepted");
    expect(await handedOn(s.accountId)).toBe(0);
    await waitFor(() => lineSent(s, a), (m) => m.length >= 1);
    const res = await deliverLine(s, webhookBody(s, [textEvent(dm(a), "a1"), textEvent(dm(b), "b1")]));
    const ack = (await res.json()) as any;
    expect(ack.events.map((e: any) => e.status)).toEqual(["rate_limited", "accepted"]);
    expect((await waitFor(() => lineSent(s, b), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: b1"]);
    expect((await lineSent(s, a)).map((m) => m.text)).toEqual(["echo: a0"]);
  });

  it("reset and start are commands, as on the other platforms", async () => {
    const s = await setupLine();
    const user = lineUserId();
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "remember 42")]));
    await waitFor(() => lineSent(s, user), (m) => m.length >= 1);
    const key = lineSessionKey(s, `dm:${user}`);
    expect((await exportSession(s.tenant.owner, key)).history).toHaveLength(2);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "Reset")]));
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 2);
    expect(sent[1]?.text).toMatch(/starts over/);
    expect((await exportSession(s.tenant.owner, key)).history).toEqual([]);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "start")]));
    const greeted = await waitFor(() => lineSent(s, user), (m) => m.length >= 3);
    expect(greeted[2]?.text).toMatch(/^Hi!/);
  });
});

describe("line accounts (admin API)", () => {
  it("create and list print /webhooks/line/<id>; missing refs and wrong prefixes are refused", async () => {
    const s = await setupLine();
    const list = await admin(s.tenant.owner, "GET", `/channel-accounts?tenant_id=${s.tenant.tenantId}`);
    expect(list.status).toBe(200);
    const row = list.body.data.find((a: any) => a.id === s.accountId);
    expect(row).toMatchObject({ channel: "line", webhook_path: `/webhooks/line/${s.accountId}`, token_ref: "vault:line-token", signing_secret_ref: "vault:line-secret" });
    expect(JSON.stringify(list.body)).not.toContain(s.channelSecret);
    expect(JSON.stringify(list.body)).not.toContain(s.accessToken);
    const base = { tenant_id: s.tenant.tenantId, channel: "line", token_ref: "vault:line-token", signing_secret_ref: "vault:line-secret" };
    const refused: [Record<string, unknown>, string][] = [
      [{ ...base, name: "n1", token_ref: undefined }, "token_ref"],
      [{ ...base, name: "n2", signing_secret_ref: undefined }, "signing_secret_ref"],
      [{ ...base, name: "n3", token_ref: "SLACK_BOT" }, "token_ref"],
      [{ ...base, name: "n4", signing_secret_ref: "TELEGRAM_X" }, "signing_secret_ref"],
      [{ ...base, name: "n5", stream_replies: true }, "stream_replies"],
      [{ ...base, name: "n6", public_key: "a".repeat(64) }, "public_key"],
    ];
    for (const [body, param] of refused) {
      const res = await admin(s.tenant.owner, "POST", "/channel-accounts", body);
      expect(res.status, param).toBe(400);
      expect(res.body.error.message, param).toContain(`'${param}'`);
    }
    // An owner may name LINE_* Worker secrets; a LINE_ prefix on another channel is refused.
    const owned = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, name: "owned", token_ref: "LINE_TOKEN", signing_secret_ref: "LINE_SECRET" });
    expect(owned.status).toBe(201);
    expect(owned.body.webhook_path).toBe(`/webhooks/line/${owned.body.id}`);
    const slackWithLine = await admin(s.tenant.owner, "POST", "/channel-accounts", {
      tenant_id: s.tenant.tenantId,
      channel: "slack",
      name: "slk",
      token_ref: "LINE_TOKEN",
      signing_secret_ref: "SLACK_SIGN",
      bot_username: "UBOT",
    });
    expect(slackWithLine.status).toBe(400);
  });

  it("a delivery for an unknown account or to a LINE account of another channel is 404", async () => {
    const s = await setupLine();
    const body = JSON.stringify(webhookBody(s, []));
    const headers = { "content-type": "application/json", "x-line-signature": lineSignature(s.channelSecret, body) };
    expect((await SELF.fetch(`http://gateway.test/webhooks/line/chn-nope`, { method: "POST", headers, body })).status).toBe(404);
    expect((await SELF.fetch(`http://gateway.test/webhooks/slack/${s.accountId}`, { method: "POST", headers, body })).status).toBe(404);
  });
});
