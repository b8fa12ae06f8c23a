// The LINE adapter's pieces on their own: the retry key (deterministic per intent, a valid
// UUID, different across intents and across a session erased and renumbered), the reply-token
// reference, mention cutting, and send against the fake Messaging API: how LINE's answers map to
// send results (receipt, 409 with a retry key, invalid reply token -> push, 429, monthly quota,
// 5xx, 401/403/400), and a base URL the outbound policy refuses.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { splitForChannel } from "../../workers/channels/index.ts";
import { line } from "../../workers/channels/line.ts";
import { retryKeyOf } from "../../workers/channels/line-api.ts";
import { cutMentions, replyTokenOf, replyTokenRef } from "../../workers/channels/line-events.ts";
import type { AccountConfig, SendIntent } from "../../workers/channels/types.ts";
import { issueReplyToken, lineCalls, lineFail, lineSent, lineUserId, setupLine, type LineSetup } from "./line-helpers.ts";

function accountOf(s: LineSetup, o: { tokenRef?: string; apiBaseUrl?: string } = {}): AccountConfig {
  return {
    id: s.accountId,
    tenantId: s.tenant.tenantId,
    channel: "line",
    apiBaseUrl: o.apiBaseUrl ?? env.FAKE_LINE_URL,
    tokenRef: o.tokenRef ?? "vault:line-token",
    botUsername: s.botUserId,
    sendIntervalMs: 0,
  };
}

function intent(chatId: string, text: string, replyToId: string | null = null, key = `k#${crypto.randomUUID()}`): SendIntent {
  return { key, chatId, threadId: null, replyToId, inReplyTo: "m1", text, callbackUrl: null };
}

const ctx = { env, sockets: [] };

describe("line pieces", () => {
  it("the retry key: a UUID (version 8, RFC variant), the same for every attempt of an intent, different for another intent or answered message", async () => {
    const a = { key: "ten/agt/line/chn/dm:U1#1", inReplyTo: "01EVENTA" };
    const k = await retryKeyOf(a);
    expect(k).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await retryKeyOf({ ...a })).toBe(k);
    expect(await retryKeyOf({ ...a, key: "ten/agt/line/chn/dm:U1#2" })).not.toBe(k);
    // A session erased after its TTL numbers its rows from 1 again: a new message's reply is a new key.
    expect(await retryKeyOf({ ...a, inReplyTo: "01EVENTB" })).not.toBe(k);
  });

  it("the reply-token reference round-trips and refuses anything malformed", () => {
    expect(replyTokenOf(replyTokenRef(1_700_000_000_123, "abcdef0123456789abcdef0123456789"))).toEqual({ issuedAt: 1_700_000_000_123, token: "abcdef0123456789abcdef0123456789" });
    for (const bad of [null, "", "rt:", "rt:12", "rt:x:abc", "rt:12:", "rt:12:a b", "rt:12:a/b", `rt:${"9".repeat(16)}:abc`, "interaction:1:abc", "12345"]) {
      expect(replyTokenOf(bad), String(bad)).toBeNull();
    }
  });

  it("mentions are cut by index and length, the words around them joined by one space", () => {
    expect(cutMentions("@bot hello", [{ index: 0, length: 4 }])).toBe("hello");
    expect(cutMentions("hey @bot what is it", [{ index: 4, length: 4 }])).toBe("hey what is it");
    expect(cutMentions("ask @bot", [{ index: 4, length: 4 }])).toBe("ask");
    expect(cutMentions("@bot and @bot again", [{ index: 0, length: 4 }, { index: 9, length: 4 }])).toBe("and again");
    // UTF-16 indexes, as LINE counts them: an emoji before the mention.
    expect(cutMentions("😀 @bot hi", [{ index: 3, length: 4 }])).toBe("😀 hi");
    // Ranges past the end or overlapping are not cut.
    expect(cutMentions("short", [{ index: 3, length: 10 }])).toBe("short");
    expect(cutMentions("@bot x", [{ index: 0, length: 4 }, { index: 2, length: 4 }])).toBe("@b");
  });

  it("the 5,000-character split", () => {
    const parts = splitForChannel("line", "word ".repeat(2_100).trim());
    expect(parts.length).toBe(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(5_000);
  });
});

describe("line send", () => {
  it("a fresh reply token is used once; a refused one (used or expired) falls back to push in the same attempt", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const token = await issueReplyToken(s, user);
    const ref = replyTokenRef(Date.now(), token);
    const first = await line.send(intent(user, "one", ref), accountOf(s), ctx);
    const sent = await lineSent(s, user);
    expect(first).toEqual({ ok: true, receipt: sent[0]?.id });
    expect(sent[0]).toMatchObject({ via: "reply", text: "one" });
    // The same token again (a second intent carrying it): refused by LINE, pushed instead.
    const second = await line.send(intent(user, "two", ref), accountOf(s), ctx);
    expect(second).toMatchObject({ ok: true });
    expect((await lineSent(s, user)).map((m) => [m.via, m.text])).toEqual([
      ["reply", "one"],
      ["push", "two"],
    ]);
    expect(await lineCalls(s)).toMatchObject({ reply: 2, invalidReplyTokens: 1, push: 1 });
  });

  it("a push resent with the same key is a 409 LINE answers as already accepted: a success, nothing sent twice", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const one = intent(user, "once");
    const a = await line.send(one, accountOf(s), ctx);
    const b = await line.send(one, accountOf(s), ctx);
    expect(a).toMatchObject({ ok: true });
    expect(b).toMatchObject({ ok: true });
    expect(await lineSent(s, user)).toHaveLength(1);
    expect((await lineCalls(s)).conflicts).toBe(1);
    // A 409 that is not about an accepted key (no header, another message) is not taken for a success.
    await lineFail(s, "status", 1, { status: 409, message: "Conflict" });
    expect(await line.send(intent(user, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
  });

  it("maps LINE's answers: 429 retryable for the whole channel, monthly quota and 4xx dead, 5xx retryable", async () => {
    const s = await setupLine();
    const user = lineUserId();
    await lineFail(s, "429", 1);
    expect(await line.send(intent(user, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: null, accountWide: true });
    await lineFail(s, "monthly", 1);
    const monthly = await line.send(intent(user, "x"), accountOf(s), ctx);
    expect(monthly).toMatchObject({ ok: false, retryable: false });
    expect(monthly.ok ? "" : monthly.error).toContain("monthly limit");
    await lineFail(s, "500", 1);
    expect(await line.send(intent(user, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true });
    await lineFail(s, "status", 1, { status: 403, message: "Not authorized" });
    const forbidden = await line.send(intent(user, "x"), accountOf(s), ctx);
    expect(forbidden).toMatchObject({ ok: false, retryable: false });
    expect(forbidden.ok ? "" : forbidden.error).toContain("403: Not authorized");
    // A reply refused for another reason than its token is not pushed behind LINE's back.
    const token = await issueReplyToken(s, user);
    await lineFail(s, "status", 1, { status: 400, message: "The request body has 1 error(s)" });
    expect(await line.send(intent(user, "x", replyTokenRef(Date.now(), token)), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    // Over 5,000 characters is LINE's 400 (the core splits before this).
    expect(await line.send(intent(user, "y".repeat(5_001)), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    expect(await lineSent(s, user)).toEqual([]);
  });

  it("a bad token, a missing secret, a chat id that is no LINE id and a refused base URL never send", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const bad = await line.send(intent(user, "x"), accountOf(s, { tokenRef: "vault:nope" }), ctx);
    expect(bad).toMatchObject({ ok: false, retryable: false });
    expect(await line.send(intent("../v2/bot/info", "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    const refused = await line.send(intent(user, "x"), accountOf(s, { apiBaseUrl: "http://169.254.169.254" }), ctx);
    expect(refused).toMatchObject({ ok: false, retryable: false });
    expect(refused.ok ? "" : refused.error).toContain("api_base_url refused");
    expect(await lineCalls(s)).toMatchObject({ reply: 0, push: 0 });
  });
});
