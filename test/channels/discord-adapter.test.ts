// The Discord adapter's send and edit on their own, against the fake REST API: where each kind of
// reply goes (interaction webhook, channel message with a reply reference), how Discord's answers
// map to send results (receipt, 429 retry_after and global, 5xx, 401/403, 404), the fallback when
// an interaction token has expired, edits (streaming), and the 2,000-character split.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { splitForChannel } from "../../workers/channels/index.ts";
import { discord } from "../../workers/channels/discord.ts";
import { interactionOf, interactionReplyTo } from "../../workers/channels/discord-rest.ts";
import { retryAfterSecondsMs } from "../../workers/channels/platform-http.ts";
import type { AccountConfig, SendIntent } from "../../workers/channels/types.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { DISCORD_API_PATH, discordControl, discordFail, discordMessages, discordRequests, setupDiscord, snowflake, type DiscordSetup } from "./discord-helpers.ts";

function accountOf(s: DiscordSetup, o: { tokenRef?: string; apiBaseUrl?: string } = {}): AccountConfig {
  return {
    id: s.accountId,
    tenantId: s.tenant.tenantId,
    channel: "discord",
    apiBaseUrl: o.apiBaseUrl ?? `${env.FAKE_DISCORD_URL}${DISCORD_API_PATH}`,
    tokenRef: o.tokenRef ?? "vault:discord-bot",
    botUsername: s.botId,
    sendIntervalMs: 0,
  };
}

function intent(chatId: string, text: string, replyToId: string | null = null): SendIntent {
  return { key: `k#${crypto.randomUUID()}`, chatId, threadId: null, replyToId, inReplyTo: "m", text, callbackUrl: null };
}

// An interaction the fake knows (as if Discord had sent it and we had deferred).
async function interaction(s: DiscordSetup, channel: string): Promise<{ token: string; ref: string }> {
  const token = `tok${crypto.randomUUID().replace(/-/g, "")}`;
  await discordControl("interaction", { app: s.appId, token, channel_id: channel });
  return { token, ref: interactionReplyTo(s.appId, token) };
}

const ctx = { env, sockets: [] };

describe("discord send", () => {
  it("answers an interaction in @original (no bot token), a Gateway message as a reply in its channel (bot token)", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const ix = await interaction(s, channel);
    const ok = await discord.send(intent(channel, "hello @everyone", ix.ref), accountOf(s), ctx);
    const [original] = await discordMessages(s.appId, channel);
    expect(ok).toEqual({ ok: true, receipt: original?.id });
    expect(original).toMatchObject({ original: true, content: "hello @everyone", allowed_mentions: { parse: [] } });

    const asked = snowflake();
    const reply = await discord.send(intent(channel, "a reply", asked), accountOf(s), ctx);
    const [byBot] = await discordMessages(s.botToken, channel);
    expect(reply).toEqual({ ok: true, receipt: byBot?.id });
    expect(byBot).toMatchObject({ content: "a reply", message_reference: { message_id: asked }, bot: s.botToken });
    const requests = await discordRequests(s.botToken);
    expect(requests.map((r) => [r.method, r.path])).toEqual([["POST", `/channels/${channel}/messages`]]);
    expect((requests[0]?.body as any).message_reference).toEqual({ message_id: asked, fail_if_not_exists: false });
    // A proactive message (no reply id) has no reference.
    expect(await discord.send(intent(channel, "news"), accountOf(s), ctx)).toMatchObject({ ok: true });
    expect((await discordMessages(s.botToken, channel))[1]?.message_reference).toBeNull();
  });

  it("maps Discord's answers: 429 retry_after (bucket: this chat; global: the whole bot), 5xx retryable, 401/403/404 not", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    await discordFail(s.botToken, "429", 1, { retry_after: 1.234 });
    const bucket = await discord.send(intent(channel, "x"), accountOf(s), ctx);
    expect(bucket).toMatchObject({ ok: false, retryable: true, retryAfterMs: 1234 });
    expect(bucket.ok ? true : bucket.accountWide).toBeFalsy();
    await discordFail(s.botToken, "global429", 1, { retry_after: 0.3 });
    expect(await discord.send(intent(channel, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 300, accountWide: true });
    await discordFail(s.botToken, "500", 1);
    expect(await discord.send(intent(channel, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: null });
    await discordFail(s.botToken, "error", 1, { status: 403, code: 50001 });
    const forbidden = await discord.send(intent(channel, "x"), accountOf(s), ctx);
    expect(forbidden).toMatchObject({ ok: false, retryable: false });
    expect(forbidden.ok ? "" : forbidden.error).toContain("Missing Access (code 50001)");
    // A token Discord does not know: 401, not retried.
    expectStatus(await admin(s.tenant.owner, "PUT", "/secrets/bad-token", { tenant_id: s.tenant.tenantId, value: "not-a-bot-token" }), 201);
    const bad = await discord.send(intent(channel, "x"), accountOf(s, { tokenRef: "vault:bad-token" }), ctx);
    expect(bad).toMatchObject({ ok: false, retryable: false });
    expect(bad.ok ? "" : bad.error).toContain("401");
    // A reference to a secret the tenant does not have, and a chat id that is no channel id.
    expect(await discord.send(intent(channel, "x"), accountOf(s, { tokenRef: "vault:nope" }), ctx)).toMatchObject({ ok: false, retryable: false });
    expect(await discord.send(intent("../../guilds", "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    // Over 2,000 characters is Discord's 400, not retried (the core splits before this).
    expect(await discord.send(intent(channel, "y".repeat(2_001)), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    // A base URL the outbound-URL policy refuses: the token never leaves.
    const before = (await discordRequests(s.botToken)).length;
    expect(await discord.send(intent(channel, "x"), accountOf(s, { apiBaseUrl: "http://169.254.169.254/api/v10" }), ctx)).toMatchObject({ ok: false, retryable: false });
    expect(await discordRequests(s.botToken)).toHaveLength(before);
    expect(await discordMessages(s.botToken, channel)).toEqual([]);
  });

  it("an interaction whose token expired (or never existed) is answered in its channel instead", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const ix = await interaction(s, channel);
    await discordControl("expire", { token: ix.token });
    const late = await discord.send(intent(channel, "late but here", ix.ref), accountOf(s), ctx);
    const [posted] = await discordMessages(s.botToken, channel);
    expect(late).toEqual({ ok: true, receipt: posted?.id });
    expect(posted?.message_reference).toBeNull();
    // The interaction's token is never in an error or a record beyond its own webhook path.
    const unknown = interactionReplyTo(s.appId, "never-sent-token");
    expect(await discord.send(intent(channel, "also here", unknown), accountOf(s), ctx)).toMatchObject({ ok: true });
    expect((await discordMessages(s.botToken, channel)).map((m) => m.content)).toEqual(["late but here", "also here"]);
    // Other failures of the webhook are not papered over: a 429 stays a 429 for this interaction.
    const busy = await interaction(s, channel);
    await discordFail(s.appId, "429", 1, { retry_after: 0.5 });
    const limited = await discord.send(intent(channel, "wait", busy.ref), accountOf(s), ctx);
    expect(limited).toMatchObject({ ok: false, retryable: true, retryAfterMs: 500 });
    expect(limited.ok ? "" : limited.error).not.toContain(busy.token);
  });

  it("a vault: reference opens only the account's own tenant's secret: another tenant's bot token is never used", async () => {
    const a = await setupDiscord();
    const b = await setupDiscord();
    expectStatus(await admin(a.tenant.owner, "PUT", "/secrets/only-in-a", { tenant_id: a.tenant.tenantId, value: a.botToken }), 201);
    // B's admin may write the name (a vault: reference always means B's own vault)...
    const created = await admin(b.tenant.owner, "POST", "/channel-accounts", {
      tenant_id: b.tenant.tenantId,
      channel: "discord",
      name: "borrowed",
      token_ref: "vault:only-in-a",
      public_key: "ab".repeat(32),
      bot_username: b.botId,
    });
    expect(created.status).toBe(201);
    // ...but it resolves in B, where there is no such secret: a dead letter, and A's token never leaves.
    const channel = snowflake();
    const missing = await discord.send(intent(channel, "x"), { ...accountOf(b), id: created.body.id, tokenRef: "vault:only-in-a" }, ctx);
    expect(missing).toMatchObject({ ok: false, retryable: false });
    expect(missing.ok ? "" : missing.error).toContain("no vault secret 'only-in-a'");
    expect(missing.ok ? "" : missing.error).not.toContain(a.botToken);
    expect(await discordRequests(a.botToken)).toEqual([]);
  });

  it("a platform that never answers is a retryable timeout", { timeout: 30_000 }, async () => {
    const s = await setupDiscord();
    await discordFail(s.botToken, "stall", 1);
    const stalled = await discord.send(intent(snowflake(), "x"), accountOf(s), ctx);
    expect(stalled).toMatchObject({ ok: false, retryable: true, error: "send timed out" });
  });
});

describe("discord edit (streaming)", () => {
  it("edits an interaction's @original and a channel message; the same text again succeeds; streamTarget names @original for interactions only", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const ix = await interaction(s, channel);
    const base = intent(channel, "first", ix.ref);
    expect(discord.streamTarget?.(base)).toBe("@original");
    expect(discord.streamTarget?.(intent(channel, "x", snowflake()))).toBeNull();
    expect(discord.streamTarget?.(intent(channel, "x"))).toBeNull();
    // Streaming starts by editing the deferred answer, then the final edit may name it by id.
    const first = await discord.edit!({ ...base, text: "Hel", editMessageId: "@original" }, accountOf(s), ctx);
    expect(first.ok).toBe(true);
    const id = first.ok ? first.receipt : "";
    expect(await discord.edit!({ ...base, text: "Hello there", editMessageId: id }, accountOf(s), ctx)).toEqual({ ok: true, receipt: id });
    expect(await discord.edit!({ ...base, text: "Hello there", editMessageId: "@original" }, accountOf(s), ctx)).toEqual({ ok: true, receipt: id });
    const [message] = await discordMessages(s.appId, channel);
    expect(message).toMatchObject({ id, content: "Hello there", edits: 2 });

    // A Gateway message's streamed reply: posted, then edited through the channel with the bot token.
    const posted = await discord.send(intent(channel, "Wor", snowflake()), accountOf(s), ctx);
    const mid = posted.ok ? posted.receipt : "";
    expect(await discord.edit!({ ...intent(channel, "World"), editMessageId: mid }, accountOf(s), ctx)).toEqual({ ok: true, receipt: mid });
    expect((await discordMessages(s.botToken, channel))[0]).toMatchObject({ id: mid, content: "World", edits: 1 });
    expect((await discordRequests(s.botToken)).map((r) => [r.method, r.path])).toEqual([
      ["POST", `/channels/${channel}/messages`],
      ["PATCH", `/channels/${channel}/messages/${mid}`],
    ]);
    // Nothing to edit: @original without an interaction, an id that is not one, a message not there.
    for (const editMessageId of ["@original", "12ab", "../x"]) {
      expect(await discord.edit!({ ...intent(channel, "x"), editMessageId }, accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    }
    expect(await discord.edit!({ ...intent(channel, "x"), editMessageId: snowflake() }, accountOf(s), ctx)).toMatchObject({ ok: false, retryable: false });
    // An edit's 429 carries its retry_after like a send's.
    await discordFail(s.botToken, "429", 1, { retry_after: 1 });
    expect(await discord.edit!({ ...intent(channel, "World!"), editMessageId: mid }, accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 1000 });
  });
});

describe("discord pieces", () => {
  it("splits at 2,000 characters", () => {
    const long = "word ".repeat(1_000).trim();
    const parts = splitForChannel("discord", long);
    expect(parts.length).toBe(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2_000);
    expect(parts.join(" ")).toBe(long);
    expect(splitForChannel("discord", "short")).toEqual(["short"]);
  });

  it("carries an interaction as application id + token, and never reads a malformed one", () => {
    const app = "1234567890123456789";
    expect(interactionOf(interactionReplyTo(app, "abc.DEF_-1"))).toEqual({ appId: app, token: "abc.DEF_-1" });
    for (const bad of [null, "123", "interaction:", `interaction:${app}`, `interaction:${app}:`, "interaction:abc:tok", `interaction:${app}:a/b`, `interaction:${app}:${"t".repeat(501)}`, `interaction:${app}:to:k`]) {
      expect(interactionOf(bad), String(bad)).toBeNull();
    }
  });

  it("reads retry_after as Discord sends it (fractional seconds), bounded", () => {
    expect(retryAfterSecondsMs(0.35)).toBe(350);
    expect(retryAfterSecondsMs(64.57)).toBe(64_570);
    expect(retryAfterSecondsMs("2")).toBe(2_000);
    expect(retryAfterSecondsMs("1.5")).toBe(1_500);
    expect(retryAfterSecondsMs(10_000_000)).toBe(3_600_000);
    for (const bad of [null, undefined, "", "soon", "-1", -1, Number.NaN, "1e9"]) expect(retryAfterSecondsMs(bad as never)).toBeNull();
  });
});
