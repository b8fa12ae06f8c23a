// The pure parts of the Discord Gateway: MESSAGE_CREATE -> InboundMessage (who is answered, what
// the agent sees, bounds), the backoff, and which gateway URLs the bot token may go to.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { discordMessage, stripBotMention } from "../../workers/channels/discord-message.ts";
import { backoffMs, clampHeartbeat, invalidSessionDelayMs, MAX_BACKOFF_MS, socketFetchUrl } from "../../workers/channels/discord-gateway/protocol.ts";
import type { AccountConfig } from "../../workers/channels/types.ts";
import { messageCreate } from "./discord-gateway-helpers.ts";

const BOT = "900000000000000009";
const account: AccountConfig = { id: "chn_x", tenantId: "ten_x", channel: "discord", apiBaseUrl: null, tokenRef: "vault:bot", botUsername: BOT, sendIntervalMs: null };

describe("discord MESSAGE_CREATE", () => {
  it("maps a DM: ids, sender, reply target, no group", () => {
    const m = messageCreate("  hello  ", { author: "123", channel: "456" });
    expect(discordMessage(m, account, 7)).toEqual({
      tenantId: "ten_x",
      channel: "discord",
      accountId: "chn_x",
      peerId: "123",
      groupId: null,
      threadId: null,
      chatId: "456",
      messageId: m.id,
      replyToId: m.id,
      text: "hello",
      command: null,
      sender: { id: "123", name: "Alice" },
      attachments: [],
      callbackUrl: null,
      receivedAt: 7,
    });
    expect(discordMessage(messageCreate("/reset"), account, 0)?.command).toBe("reset");
    expect(discordMessage(messageCreate("Start"), account, 0)?.command).toBe("start");
  });

  it("answers a guild message only when it addresses the bot, and strips every mention form", () => {
    const g = { guild: "1", channel: "2" };
    expect(discordMessage(messageCreate("hi all", g), account, 0)).toBeNull();
    expect(discordMessage(messageCreate(`<@${BOT}0> a longer id is someone else`, g), account, 0)).toBeNull();
    const mention = discordMessage(messageCreate(`<@${BOT}> hi <@!${BOT}>there`, g), account, 0);
    expect(mention).toMatchObject({ groupId: "2", chatId: "2", text: "hi there" });
    expect(discordMessage(messageCreate("by role list only", { ...g, mentions: [BOT] }), account, 0)?.text).toBe("by role list only");
    expect(discordMessage(messageCreate("thanks", { ...g, replyToAuthor: BOT }), account, 0)?.text).toBe("thanks");
    expect(discordMessage(messageCreate("thanks", { ...g, replyToAuthor: "5" }), account, 0)).toBeNull();
    // A mention with nothing else is not a turn.
    expect(discordMessage(messageCreate(`<@${BOT}>`, g), account, 0)).toBeNull();
    expect(stripBotMention(`a <@${BOT}>  b\\nc`, BOT)).toBe("a b\\nc");
  });

  it("ignores bots, webhooks and the bot itself; reads attachments as placeholders", () => {
    expect(discordMessage(messageCreate("beep", { bot: true }), account, 0)).toBeNull();
    expect(discordMessage(messageCreate("me", { author: BOT }), account, 0)).toBeNull();
    expect(discordMessage({ ...messageCreate("hook"), webhook_id: "77" }, account, 0)).toBeNull();
    const files = discordMessage(messageCreate("", { attachments: [{ id: "8", filename: "a.png" }, { id: "9", filename: "b.txt" }] }), account, 0);
    expect(files).toMatchObject({ text: "[file: a.png] [file: b.txt]", attachments: [{ kind: "file", ref: "8" }, { kind: "file", ref: "9" }] });
  });

  it("refuses what is malformed or unbounded, without throwing", () => {
    expect(discordMessage(null, account, 0)).toBeNull();
    expect(discordMessage({ ...messageCreate("x"), id: "not-a-snowflake" }, account, 0)).toBeNull();
    expect(discordMessage({ ...messageCreate("x"), content: "y".repeat(8_001) }, account, 0)).toBeNull();
    expect(discordMessage({ ...messageCreate("x"), mentions: Array.from({ length: 201 }, () => ({ id: "1" })) }, account, 0)).toBeNull();
    expect(discordMessage({ ...messageCreate("x"), author: { id: 5 } }, account, 0)).toBeNull();
  });
});

describe("discord gateway protocol helpers", () => {
  it("backs off exponentially with jitter, capped; HELLO intervals are clamped; INVALID_SESSION waits 1-5 s", () => {
    expect(backoffMs(0, 1000, () => 0)).toBe(500);
    expect(backoffMs(0, 1000, () => 1)).toBe(1000);
    expect(backoffMs(3, 1000, () => 1)).toBe(8000);
    expect(backoffMs(50, 1000, () => 1)).toBe(MAX_BACKOFF_MS);
    expect(clampHeartbeat(1)).toBe(1_000);
    expect(clampHeartbeat(41_250)).toBe(41_250);
    expect(clampHeartbeat(10_000_000)).toBe(120_000);
    expect(invalidSessionDelayMs(() => 0)).toBe(1000);
    expect(invalidSessionDelayMs(() => 1)).toBe(5000);
  });

  it("sends the bot token only to gateway URLs the outbound policy allows", () => {
    expect(socketFetchUrl(env, "wss://gateway.discord.gg")).toEqual({ ok: true, url: "https://gateway.discord.gg/?v=10&encoding=json" });
    expect(socketFetchUrl(env, "wss://gateway-us-east1-b.discord.gg/?v=9")).toEqual({ ok: true, url: "https://gateway-us-east1-b.discord.gg/?v=10&encoding=json" });
    for (const bad of ["ws://gateway.discord.gg", "wss://169.254.169.254", "wss://10.0.0.1/", "wss://localhost", "wss://user:pw@gateway.discord.gg", "not a url", "ftp://gateway.discord.gg"]) {
      expect(socketFetchUrl(env, bad).ok, bad).toBe(false);
    }
  });
});
