// The Feishu / Lark webhook under attack: the unsigned path (the Request URL check) can never
// carry a message, is one answer for every failure (no padding oracle on the Encrypt Key) and is
// refused before any decryption when it is larger than a check; the text a message gives the
// agent stays bounded however its mentions expand.
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { feishu } from "../../workers/channels/feishu.ts";
import { FEISHU_MAX_INBOUND_TEXT } from "../../workers/channels/feishu-events.ts";
import type { AccountConfig } from "../../workers/channels/types.ts";
import { waitFor } from "./helpers.ts";
import { deliverFeishu, feishuEncrypt, feishuId, feishuSent, feishuSessions, messageEvent, setupFeishu, statusOf } from "./feishu-helpers.ts";

describe("feishu webhook bounds", () => {
  it("an unsigned delivery never reaches a session: anything but a small, complete url_verification is one identical 401", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    const key = s.encryptKey;
    // A message event that also says type url_verification but has no challenge: before the fix
    // verify let it through, handshake had nothing to answer and parse accepted the message.
    const smuggled = { ...messageEvent(s, user, "unsigned hello", { chatId: chat }), type: "url_verification" };
    const plain = (text: string) => JSON.stringify({ encrypt: feishuEncrypt(key, text) });
    const good = Buffer.from(feishuEncrypt(key, JSON.stringify({ challenge: "c", type: "url_verification" })), "base64");
    const badPad = Buffer.from(good);
    badPad[badPad.length - 1] = (badPad[badPad.length - 1] as number) ^ 0x01;
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", createHash("sha256").update(key).digest(), iv);
    const notUtf8 = Buffer.concat([iv, c.update(Buffer.from([0xff, 0xfe, 0xfd])), c.final()]).toString("base64");
    const bodies = [
      plain(JSON.stringify(smuggled)),
      plain(JSON.stringify({ type: "url_verification", challenge: "" })),
      plain(JSON.stringify({ type: "url_verification" })),
      // A real check padded past the unsigned bound (Feishu's is ~250 characters).
      plain(JSON.stringify({ challenge: "c", type: "url_verification", pad: "x".repeat(4_000) })),
      JSON.stringify({ encrypt: badPad.toString("base64") }),
      JSON.stringify({ encrypt: notUtf8 }),
      plain("not json"),
      plain(JSON.stringify({ type: "event_callback" })),
      "not json at all",
      JSON.stringify({ encrypt: "***" }),
    ];
    const answers: string[] = [];
    for (const body of bodies) {
      const res = await deliverFeishu(s, body, { unsigned: true });
      expect(res.status, body.slice(0, 60)).toBe(401);
      answers.push(await res.text());
    }
    // One answer for all: nothing tells bad padding from bad UTF-8, bad JSON or a wrong type.
    expect(new Set(answers).size).toBe(1);
    // The same smuggled event signed is a message (the refusal above was for being unsigned).
    expect(await statusOf(await deliverFeishu(s, smuggled))).toBe("accepted");
    const sent = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1);
    expect(sent.map((m) => m.text)).toEqual(["echo: unsigned hello"]);
    expect((await feishuSessions(s)).length).toBe(1);
  });

  it("the text given to the agent is bounded however mentions expand", async () => {
    const bot = feishuId("ou");
    const account = { id: "chn_x", tenantId: "t", channel: "feishu", feishu: { app_id: "cli_bounds", host: "feishu", bot_open_id: bot } } as unknown as AccountConfig;
    const headers = new Headers({ "x-lark-signature": "0".repeat(64), "x-lark-request-timestamp": "1", "x-lark-request-nonce": "n" });
    const name = "N".repeat(256);
    const mentions = [{ key: "@_user_1", openId: feishuId("ou"), name }];
    // 20,000 mentions of one key in 180,000 characters: 5 MB once every key became its name.
    const text = "@_user_1 ".repeat(20_000);
    const event = messageEvent({ appId: "cli_bounds" }, feishuId("ou"), text, { mentions });
    const m = feishu.parse({ headers, body: JSON.stringify(event) }, account, Date.now());
    expect(m?.text.startsWith(`@${name} @${name}`)).toBe(true);
    expect(m?.text.length).toBeLessThanOrEqual(FEISHU_MAX_INBOUND_TEXT);
    // In a post, "at" elements carry the key the same way.
    const post = { title: "", content: [Array.from({ length: 3_000 }, () => ({ tag: "at", user_id: "@_user_1", user_name: "" }))] };
    const postEvent = messageEvent({ appId: "cli_bounds" }, feishuId("ou"), "", { messageType: "post", content: post, mentions });
    const p = feishu.parse({ headers, body: JSON.stringify(postEvent) }, account, Date.now());
    expect(p?.text.startsWith(`@${name}@${name}`)).toBe(true);
    expect(p?.text.length).toBeLessThanOrEqual(FEISHU_MAX_INBOUND_TEXT);
    // An unsigned delivery is never a message, whatever verify said.
    expect(feishu.parse({ headers: new Headers(), body: JSON.stringify(event) }, account, Date.now())).toBeNull();
  });
});
