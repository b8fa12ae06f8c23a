// The adapters' edit calls on their own, against the fakes: Telegram editMessageText and Slack
// chat.update map the platforms' answers to send results (an edit to the text the message
// already has is a success, which is what makes a final edit resent after a crash harmless; a
// message that cannot be edited is not retried; a 429 carries its wait and, where it is about
// the bot, accountWide).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { slack } from "../../workers/channels/slack.ts";
import { telegram } from "../../workers/channels/telegram.ts";
import type { AccountConfig, SendIntent } from "../../workers/channels/types.ts";
import { failNext, newChatId, sentTo, setupTelegram } from "./helpers.ts";
import { newChannel, setupSlack, slackFail, slackSent } from "./slack-helpers.ts";
import { slackUpdates, telegramUnmodified } from "./streaming-helpers.ts";

function intent(chatId: string, text: string): SendIntent {
  return { key: `k#${crypto.randomUUID()}`, chatId, threadId: null, replyToId: null, inReplyTo: "m", text, callbackUrl: null };
}

const ctx = { env, sockets: [] };

describe("telegram edits", () => {
  it("editMessageText: a receipt, 'not modified' as success, an unknown message not retried, 429s", async () => {
    const s = await setupTelegram({ ownToken: true });
    const account: AccountConfig = { id: s.accountId, tenantId: s.tenant.tenantId, channel: "telegram", apiBaseUrl: env.FAKE_TELEGRAM_URL, tokenRef: "vault:bot", botUsername: "edgeclaw_bot", sendIntervalMs: 0 };
    const chat = String(newChatId());
    const edit = telegram.edit as NonNullable<typeof telegram.edit>;
    const posted = await telegram.send(intent(chat, "Hel"), account, ctx);
    expect(posted.ok).toBe(true);
    const id = posted.ok ? posted.receipt : "";
    expect(await edit({ ...intent(chat, "Hello"), editMessageId: id }, account, ctx)).toEqual({ ok: true, receipt: id });
    // The same text again (a final edit resent after a crash): Telegram refuses it as "not
    // modified", which is a success.
    expect(await edit({ ...intent(chat, "Hello"), editMessageId: id }, account, ctx)).toEqual({ ok: true, receipt: id });
    expect(await telegramUnmodified(s.token)).toHaveLength(1);
    const unknown = await edit({ ...intent(chat, "x"), editMessageId: "999999999" }, account, ctx);
    expect(unknown).toMatchObject({ ok: false, retryable: false });
    expect(unknown.ok ? "" : unknown.error).toContain("message to edit not found");
    await failNext(s.token, "429", 1, 3);
    expect(await edit({ ...intent(chat, "Hello!"), editMessageId: id }, account, ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 3000, accountWide: true });
    const calls = await sentTo(s.token, chat);
    expect(calls.map((c) => [c.method, c.text, String(c.message_id)])).toEqual([
      ["sendMessage", "Hel", id],
      ["editMessageText", "Hello", id],
    ]);
  });

  it("a 429 on an edit in a group is the group's own limit, not the bot's", async () => {
    const s = await setupTelegram({ ownToken: true });
    const account: AccountConfig = { id: s.accountId, tenantId: s.tenant.tenantId, channel: "telegram", apiBaseUrl: env.FAKE_TELEGRAM_URL, tokenRef: "vault:bot", botUsername: "edgeclaw_bot", sendIntervalMs: 0 };
    const group = `-100${newChatId()}`;
    const posted = await telegram.send(intent(group, "a"), account, ctx);
    await failNext(s.token, "429", 1, 30);
    const res = await (telegram.edit as NonNullable<typeof telegram.edit>)({ ...intent(group, "ab"), editMessageId: posted.ok ? posted.receipt : "" }, account, ctx);
    expect(res).toMatchObject({ ok: false, retryable: true, retryAfterMs: 30_000 });
    expect(res.ok ? undefined : res.accountWide).toBeUndefined();
  });
});

describe("slack edits", () => {
  it("chat.update: escaped like a send, same text is a success, an unknown ts not retried, 429s bot-wide", async () => {
    const s = await setupSlack();
    const account: AccountConfig = { id: s.accountId, tenantId: s.tenant.tenantId, channel: "slack", apiBaseUrl: env.FAKE_SLACK_URL, tokenRef: "vault:slack-bot", botUsername: "UBOT0001", sendIntervalMs: 0 };
    const ch = newChannel("D");
    const edit = slack.edit as NonNullable<typeof slack.edit>;
    const posted = await slack.send(intent(ch, "a"), account, ctx);
    const ts = posted.ok ? posted.receipt : "";
    expect(await edit({ ...intent(ch, "a < b & c"), editMessageId: ts }, account, ctx)).toEqual({ ok: true, receipt: ts });
    expect(await edit({ ...intent(ch, "a < b & c"), editMessageId: ts }, account, ctx)).toEqual({ ok: true, receipt: ts });
    expect((await slackUpdates(s.botToken, ch)).map((u) => [u.ts, u.text])).toEqual([
      [ts, "a &lt; b &amp; c"],
      [ts, "a &lt; b &amp; c"],
    ]);
    const unknown = await edit({ ...intent(ch, "x"), editMessageId: "1.000001" }, account, ctx);
    expect(unknown).toMatchObject({ ok: false, retryable: false });
    expect(unknown.ok ? "" : unknown.error).toContain("message_not_found");
    await slackFail(s.botToken, "429", 1, { retry_after: 4 });
    expect(await edit({ ...intent(ch, "y"), editMessageId: ts }, account, ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 4000, accountWide: true });
    expect(await slackSent(s.botToken, ch)).toHaveLength(1);
  });
});
