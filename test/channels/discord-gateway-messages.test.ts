// Gateway MESSAGE_CREATE events end to end: the fake Gateway sends them, the bot's Durable Object
// hands them to the accept path, the session answers, and the reply reaches the fake REST API
// (test/fakes/discord.ts). DMs always, guild messages only when the bot is addressed, bots never;
// and a burst with the Gateway dropped five times: every message answered once, in order per chat.
import { describe, expect, it } from "vitest";
import { exportSession, waitFor } from "./helpers.ts";
import { discordMessages, discordSessionKey, snowflake } from "./discord-helpers.ts";
import { connectedGateway, gatewayState, gw, gwStats, messageCreate, pushMessages, stopGateway, waitStats } from "./discord-gateway-helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("discord gateway messages", () => {
  it("answers a DM in its channel, as a reply to the message, in the sender's session", async () => {
    const s = await connectedGateway();
    const m = messageCreate("hello there", { author: "400000000000000004" });
    await pushMessages(s, [m]);
    const sent = await waitFor(() => discordMessages(s.botToken, m.channel_id), (x) => x.length >= 1);
    expect(sent.map((x) => [x.content, x.message_reference?.message_id])).toEqual([["echo: hello there", m.id]]);
    const session = await exportSession(s.tenant.owner, discordSessionKey(s, "dm:400000000000000004"));
    expect(session.history.map((h: any) => h.content)).toEqual(["hello there", "echo: hello there"]);
    // The accepted event's sequence number is what a resume would start from.
    expect((await gatewayState(s)).seq).toBe((await gwStats(s)).seq);
    await stopGateway(s);
  }, 30_000);

  it("in a guild answers only mentions and replies to the bot, without the mention; ignores bots and itself", async () => {
    const s = await connectedGateway();
    const guild = snowflake();
    const channel = snowflake();
    const inGuild = { guild, channel };
    await pushMessages(s, [
      messageCreate("just chatting", inGuild),
      messageCreate(`<@${s.botId}> are you a bot?`, { ...inGuild, bot: true, author: snowflake(), mentions: [s.botId] }),
      messageCreate("talking to myself", { ...inGuild, author: s.botId }),
      messageCreate(`<@${snowflake()}> not you`, { ...inGuild, mentions: [] }),
      messageCreate(`<@${s.botId}> what time is it`, { ...inGuild, mentions: [s.botId] }),
      messageCreate(`hey <@!${s.botId}> and you?`, inGuild),
      messageCreate("follow up", { ...inGuild, replyToAuthor: s.botId }),
    ]);
    const file = messageCreate("", { attachments: [{ id: snowflake(), filename: "cat.png" }] });
    await pushMessages(s, [file]);
    const sent = await waitFor(() => discordMessages(s.botToken, channel), (x) => x.length >= 3);
    expect(sent.map((x) => x.content)).toEqual(["echo: what time is it", "echo: hey and you?", "echo: follow up"]);
    const files = await waitFor(() => discordMessages(s.botToken, file.channel_id), (x) => x.length >= 1);
    expect(files.map((x) => x.content)).toEqual(["echo: [file: cat.png]"]);
    await sleep(500);
    expect(await discordMessages(s.botToken, channel)).toHaveLength(3);
    // The guild channel is one shared session.
    const session = await exportSession(s.tenant.owner, discordSessionKey(s, `group:${channel}`));
    expect(session.history.filter((h: any) => h.role === "user").map((h: any) => h.content)).toEqual(["what time is it", "hey and you?", "follow up"]);
    await stopGateway(s);
  }, 30_000);

  it("a RESUME after a drop replays what was missed, and each message is answered exactly once", async () => {
    const s = await connectedGateway();
    const author = snowflake();
    const channel = snowflake();
    const first = messageCreate("before the drop", { author, channel });
    await pushMessages(s, [first]);
    await waitFor(() => discordMessages(s.botToken, channel), (x) => x.length >= 1);
    // Lost on the wire just before the connection drops: Discord keeps them for the session and
    // replays them on RESUME.
    const missed = ["one", "two", "three"].map((t) => messageCreate(`missed ${t}`, { author, channel }));
    await pushMessages(s, missed, true);
    await sleep(300);
    expect(await discordMessages(s.botToken, channel)).toHaveLength(1);
    await gw(s, "drop");
    const stats = await waitStats(s, (x) => x.resumes >= 1);
    expect(stats.identifies).toBe(1);
    const sent = await waitFor(() => discordMessages(s.botToken, channel), (x) => x.length >= 4);
    expect(sent.map((x) => x.content)).toEqual(["echo: before the drop", "echo: missed one", "echo: missed two", "echo: missed three"]);
    // The RESUME started after the last accepted event; replaying it again changes nothing.
    expect(stats.frames.find((f) => f.op === 6)!.d).toMatchObject({ seq: 2 });
    await gw(s, "close", { code: 4000 });
    await waitStats(s, (x) => x.resumes >= 2);
    await sleep(1_000);
    expect(await discordMessages(s.botToken, channel)).toHaveLength(4);
    await stopGateway(s);
  }, 30_000);

  it("a burst across 20 chats with the Gateway dropped 5 times: every message answered once, in order per chat", async () => {
    const s = await connectedGateway({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const chats = Array.from({ length: 20 }, () => ({ author: snowflake(), channel: snowflake() }));
    const perChat = 5;
    // Round-robin over the chats: message j of every chat before message j + 1 of any.
    const plan = Array.from({ length: perChat }, (_, j) => chats.map((c, i) => messageCreate(`chat ${i} message ${j}`, c))).flat();
    let drops = 0;
    for (let batch = 0; batch < 10; batch++) {
      // The batch just before each drop is lost on the wire: only the RESUME brings it.
      await pushMessages(s, plan.slice(batch * 10, batch * 10 + 10), batch % 2 === 1);
      if (batch % 2 === 1) {
        await gw(s, "drop");
        drops++;
        // The next drop hits the resumed connection, not the same outage twice.
        const stats = await waitStats(s, (x) => x.resumes >= drops);
        expect(stats.resumes).toBeGreaterThanOrEqual(drops);
      }
    }
    expect(drops).toBe(5);
    for (const [i, c] of chats.entries()) {
      const sent = await waitFor(() => discordMessages(s.botToken, c.channel), (x) => x.length >= perChat, 60_000, 250);
      expect(sent.map((x) => x.content)).toEqual(Array.from({ length: perChat }, (_, j) => `echo: chat ${i} message ${j}`));
    }
    await sleep(1_000);
    expect(await discordMessages(s.botToken)).toHaveLength(plan.length);
    const state = await gatewayState(s);
    expect(state).toMatchObject({ status: "connected", identifies: 1 });
    expect(state.resumes).toBeGreaterThanOrEqual(5);
    await stopGateway(s);
  }, 120_000);
});
