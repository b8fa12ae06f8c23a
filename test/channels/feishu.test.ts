// The Feishu / Lark webhook: events encrypted and signed as Feishu does it (node:crypto in
// ./feishu-helpers.ts), the encryption cross-checked with the official SDK's AESCipher; forged,
// replayed, wrongly keyed and malformed deliveries refused before any session sees them; the
// Request URL check answered; DMs end to end; groups only when the bot is mentioned.
import { AESCipher, EventDispatcher } from "@larksuiteoapi/node-sdk";
import { SELF } from "cloudflare:test";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BASE } from "../gateway/helpers.ts";
import { waitFor } from "./helpers.ts";
import { announceInbound, deliverFeishu, feishuEncrypt, feishuId, feishuSent, feishuSessionKey, feishuSessions, feishuSign, messageEvent, setupFeishu, statusOf } from "./feishu-helpers.ts";

// A value nested `depth` arrays deep.
function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe("feishu webhook", () => {
  it("the helper's encryption is Feishu's: the official SDK's AESCipher decrypts it to the same text", () => {
    for (const text of ["{}", JSON.stringify({ schema: "2.0", text: "你好, Lark 👋" }), "x".repeat(16), "y".repeat(1000)]) {
      const key = randomBytes(12).toString("base64");
      expect(new AESCipher(key).decrypt(feishuEncrypt(key, text))).toBe(text);
    }
  });

  it("accepts exactly the signatures the SDK's EventDispatcher accepts, and decrypts what its AESCipher decrypts", async () => {
    const s = await setupFeishu();
    const sdk = new EventDispatcher({ encryptKey: s.encryptKey, loggerLevel: 0 });
    const now = String(Math.floor(Date.now() / 1000));
    const body = JSON.stringify({ encrypt: feishuEncrypt(s.encryptKey, JSON.stringify(messageEvent(s, feishuId("ou"), "agreed", { chatId: feishuId("oc") }))) });
    const good = feishuSign(now, "n0nce", s.encryptKey, body);
    const cases = [
      { name: "valid", signature: good, ours: true },
      { name: "another key", signature: feishuSign(now, "n0nce", "k", body), ours: false },
      { name: "another nonce", signature: feishuSign(now, "other", s.encryptKey, body), ours: false },
      { name: "flipped", signature: `${good.slice(0, 63)}${good[63] === "0" ? "1" : "0"}`, ours: false },
    ];
    for (const c of cases) {
      const headers = { "x-lark-request-timestamp": now, "x-lark-request-nonce": "n0nce", "x-lark-signature": c.signature };
      const data = Object.assign(Object.create({ headers }), JSON.parse(body));
      expect(sdk.requestHandle?.checkIsEventValidated(data), c.name).toBe(c.ours);
      const res = await SELF.fetch(`${BASE}/webhooks/feishu/${s.accountId}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
      expect(res.status, c.name).toBe(c.ours ? 200 : 401);
    }
    // Ciphertexts both refuse: another key, a damaged last block, a cut one.
    const other = feishuEncrypt("not-the-key", JSON.stringify({ a: 1 }));
    const bytes = Buffer.from(feishuEncrypt(s.encryptKey, JSON.stringify({ a: 1 })), "base64");
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0x5a;
    for (const encrypt of [other, bytes.toString("base64"), bytes.subarray(0, 40).toString("base64")]) {
      const sdkOpens = (() => {
        try {
          JSON.parse(new AESCipher(s.encryptKey).decrypt(encrypt));
          return true;
        } catch {
          return false;
        }
      })();
      expect(sdkOpens).toBe(false);
      expect((await deliverFeishu(s, JSON.stringify({ encrypt }))).status).toBe(400);
    }
  });

  it("answers the unsigned Request URL check with its challenge, and records nothing", async () => {
    const s = await setupFeishu();
    const check = { challenge: "ajls384kdjx98XX", token: "verification-token", type: "url_verification" };
    const res = await deliverFeishu(s, check, { unsigned: true });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ challenge: "ajls384kdjx98XX" });
    // Signed (a future Feishu may sign it): the same answer.
    expect(await (await deliverFeishu(s, check)).json()).toEqual({ challenge: "ajls384kdjx98XX" });
    // Encrypted with another key: refused; as plaintext (no Encrypt Key at the app): refused.
    expect((await deliverFeishu(s, check, { unsigned: true, key: "another-key" })).status).toBe(401);
    expect((await deliverFeishu(s, JSON.stringify(check), { unsigned: true })).status).toBe(401);
    // Nothing recorded: no session, nothing sent; a message afterwards is the tenant's first session.
    expect(await feishuSessions(s)).toEqual([]);
    const chat = feishuId("oc");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, feishuId("ou"), "after the check", { chatId: chat })))).toBe("accepted");
    expect((await waitFor(() => feishuSent(s), (m) => m.length >= 1)).map((m) => m.chatId)).toEqual([chat]);
  });

  it("a DM is answered end to end with a new message in the chat", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "hello there", { chatId: chat })))).toBe("accepted");
    const sent = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1);
    expect(sent.map((m) => [m.text, m.via])).toEqual([["echo: hello there", "create"]]);
    expect(sent[0]?.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(await waitFor(() => feishuSessions(s), (k) => k.length >= 1)).toEqual([feishuSessionKey(s, `dm:${user}`)]);
  });

  it("refuses forged, replayed, wrongly keyed and unsigned events: none reaches a session", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const event = () => messageEvent(s, user, "let me in");
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      await deliverFeishu(s, event(), { signature: "0".repeat(64) }),
      await deliverFeishu(s, event(), { signature: "zz" }),
      await deliverFeishu(s, event(), { key: "not-the-encrypt-key" }),
      await deliverFeishu(s, event(), { timestamp: now - 301 }),
      await deliverFeishu(s, event(), { timestamp: now + 600 }),
      await deliverFeishu(s, event(), { unsigned: true }),
    ];
    for (const res of refused) expect(res.status).toBe(401);
    // Headers present but one missing: refused too.
    const body = JSON.stringify({ encrypt: feishuEncrypt(s.encryptKey, JSON.stringify(event())) });
    const partial = await SELF.fetch(`${BASE}/webhooks/feishu/${s.accountId}`, { method: "POST", headers: { "content-type": "application/json", "x-lark-request-timestamp": String(now), "x-lark-signature": "a".repeat(64) }, body });
    expect(partial.status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(await feishuSent(s)).toEqual([]);
    expect(await feishuSessions(s)).toEqual([]);
  });

  it("answers malformed signed bodies 400 (never 500): bad JSON, bad base64, bad padding, bad UTF-8, wrong shapes", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const key = s.encryptKey;
    const good = feishuEncrypt(key, JSON.stringify(messageEvent(s, user, "x")));
    const bytes = Buffer.from(good, "base64");
    // The last block changed: the padding no longer checks out (with overwhelming likelihood).
    const badPad = Buffer.from(bytes);
    badPad[badPad.length - 1] = (badPad[badPad.length - 1] as number) ^ 0xff;
    const bodies = [
      "not json",
      JSON.stringify({ encrypt: "***not base64***" }),
      JSON.stringify({ encrypt: good.slice(0, -5) }),
      JSON.stringify({ encrypt: badPad.toString("base64") }),
      JSON.stringify({ encrypt: Buffer.from(bytes.subarray(0, 24)).toString("base64") }),
      JSON.stringify({ encrypt: good, extra: 1 }),
      JSON.stringify({ schema: "2.0", header: {}, event: {} }),
      JSON.stringify({ encrypt: 42 }),
      JSON.stringify({ encrypt: feishuEncrypt(key, "not json inside") }),
      JSON.stringify({ encrypt: feishuEncrypt(key, JSON.stringify({ schema: "2.0", header: { event_id: "e1" }, event: {} })) }),
      JSON.stringify({ encrypt: feishuEncrypt(key, JSON.stringify({ ...messageEvent(s, user, "x"), event: { sender: { sender_type: "user" }, message: { chat_id: "oc_1" } } })) }),
      JSON.stringify({ encrypt: feishuEncrypt(key, JSON.stringify(messageEvent(s, user, "x", { content: { nope: 1 } }))) }),
      JSON.stringify({ encrypt: feishuEncrypt(key, JSON.stringify(messageEvent(s, "bad id!", "x"))) }),
      JSON.stringify({ encrypt: "A".repeat(1_500_000) }),
      // message.content is JSON in a string: held to the delivery bounds (depth 64) too.
      JSON.stringify({ encrypt: feishuEncrypt(key, JSON.stringify(messageEvent(s, user, "x", { content: { text: "x", deep: nested(100) } }))) }),
    ];
    // Invalid UTF-8 inside valid padding.
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", createHash("sha256").update(key).digest(), iv);
    bodies.push(JSON.stringify({ encrypt: Buffer.concat([iv, c.update(Buffer.from([0xff, 0xfe, 0xfd])), c.final()]).toString("base64") }));
    for (const body of bodies) {
      const res = await deliverFeishu(s, body);
      expect([400, 413], body.slice(0, 80)).toContain(res.status);
    }
    expect(await feishuSent(s)).toEqual([]);
  });

  it("an event for another App ID, non-message events and bot senders are acknowledged and ignored", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "hi", { appId: "cli_someoneelse" })))).toBe("ignored");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "hi", { senderType: "app" })))).toBe("ignored");
    const other = { ...messageEvent(s, user, "hi"), header: { ...messageEvent(s, user, "hi").header, event_type: "im.chat.member.bot.added_v1" }, event: { chat_id: "oc_1" } };
    expect(await statusOf(await deliverFeishu(s, other))).toBe("ignored");
    // A v1 event (no schema): not subscribed to, ignored.
    expect(await statusOf(await deliverFeishu(s, { uuid: "u", token: "t", ts: "1", type: "event_callback", event: { type: "message" } }))).toBe("ignored");
    await new Promise((r) => setTimeout(r, 200));
    expect(await feishuSent(s)).toEqual([]);
  });

  it("groups: answered as a reply only when the bot is mentioned, the mention cut out; other mentions named", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const group = feishuId("oc");
    const other = feishuId("ou");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "nobody called you", { chatType: "group", chatId: group })))).toBe("ignored");
    const notMe = messageEvent(s, user, "@_user_1 what do you think", { chatType: "group", chatId: group, mentions: [{ key: "@_user_1", openId: other, name: "Ann" }] });
    expect(await statusOf(await deliverFeishu(s, notMe))).toBe("ignored");
    // A picture in a group cannot mention the bot.
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "", { chatType: "group", chatId: group, messageType: "image", content: { image_key: "img_1" } })))).toBe("ignored");
    const messageId = feishuId("om");
    await announceInbound(s, messageId, group);
    const mine = messageEvent(s, user, "please @_user_1 ask @_user_2 and @_user_10", {
      chatType: "group",
      chatId: group,
      messageId,
      mentions: [
        { key: "@_user_1", openId: s.botOpenId, name: "bot" },
        { key: "@_user_2", openId: other, name: "Ann" },
        { key: "@_user_10", openId: feishuId("ou"), name: "Bo" },
      ],
    });
    expect(await statusOf(await deliverFeishu(s, mine))).toBe("accepted");
    const sent = await waitFor(() => feishuSent(s, group), (m) => m.length >= 1);
    expect(sent.map((m) => [m.text, m.via, m.replyTo, m.inThread])).toEqual([["echo: please ask @Ann and @Bo", "reply", messageId, false]]);
  });

  it("without bot_open_id the bot answers DMs only (a mention cannot be told to be its own)", async () => {
    const s = await setupFeishu({ botOpenId: false });
    const user = feishuId("ou");
    const group = feishuId("oc");
    const mention = messageEvent(s, user, "@_user_1 hi", { chatType: "group", chatId: group, mentions: [{ key: "@_user_1", openId: s.botOpenId }] });
    expect(await statusOf(await deliverFeishu(s, mention))).toBe("ignored");
    const chat = feishuId("oc");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "hi", { chatId: chat })))).toBe("accepted");
    expect((await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: hi"]);
  });

  it("post, media and thread messages: flattened text, placeholders, replies in the thread", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    const post = { title: "Plan", content: [[{ tag: "text", text: "step " }, { tag: "a", text: "one", href: "https://x.test" }], [{ tag: "img", image_key: "img_9" }]] };
    await deliverFeishu(s, messageEvent(s, user, "", { chatId: chat, messageType: "post", content: post }));
    await deliverFeishu(s, messageEvent(s, user, "", { chatId: chat, messageType: "file", content: { file_key: "file_1", file_name: "a.pdf" } }));
    const sent = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 2);
    expect(sent.map((m) => m.text)).toEqual(["echo: Plan\nstep one\n[image img_9]", "echo: [file: a.pdf (file_1)]"]);
    const group = feishuId("oc");
    const messageId = feishuId("om");
    await announceInbound(s, messageId, group);
    const inThread = messageEvent(s, user, "@_user_1 in a topic", { chatType: "group", chatId: group, messageId, threadId: feishuId("omt"), mentions: [{ key: "@_user_1", openId: s.botOpenId }] });
    expect(await statusOf(await deliverFeishu(s, inThread))).toBe("accepted");
    const threaded = await waitFor(() => feishuSent(s, group), (m) => m.length >= 1);
    expect(threaded.map((m) => [m.text, m.replyTo, m.inThread])).toEqual([["echo: in a topic", messageId, true]]);
    // A post in a group that @-mentions the bot (an "at" element carrying the mention key).
    const postId = feishuId("om");
    await announceInbound(s, postId, group);
    const groupPost = { title: "", content: [[{ tag: "at", user_id: "@_user_1", user_name: "bot" }, { tag: "text", text: " hey  there" }]] };
    const postEvent = messageEvent(s, user, "", { chatType: "group", chatId: group, messageId: postId, messageType: "post", content: groupPost, mentions: [{ key: "@_user_1", openId: s.botOpenId }] });
    expect(await statusOf(await deliverFeishu(s, postEvent))).toBe("accepted");
    const both = await waitFor(() => feishuSent(s, group), (m) => m.length >= 2);
    expect(both[1]?.text).toBe("echo: hey  there");
  });
});

