// The delivery promise for Discord interactions: a re-delivered interaction answered once, long
// replies split at 2,000 characters (the first part into @original, the rest into the channel),
// a bucket's 429 retried after its retry_after without loss and without pausing the bot, a global
// 429 pausing every chat of the bot, and 100 channels x 10 commands with 10% duplicate deliveries
// answered exactly once, in order.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { exportSession, waitFor } from "./helpers.ts";
import { ackOf, command, deliverDiscord, discordControl, discordFail, discordMessages, discordRequests, discordSessionKey, setupDiscord, snowflake } from "./discord-helpers.ts";

const limiter = (accountId: string) => env.SEND_LIMITERS.get(env.SEND_LIMITERS.idFromName(accountId));

describe("discord delivery", () => {
  it("answers an interaction delivered three times exactly once", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const ask = command(s, "ask", { text: "once please", channel });
    const acks = await Promise.all([deliverDiscord(s, ask), deliverDiscord(s, ask), deliverDiscord(s, ask)].map(async (r) => ackOf(await r)));
    // Accepted and duplicate are both the deferred answer (a duplicate's first answer stands).
    expect(acks).toEqual([{ type: 5 }, { type: 5 }, { type: 5 }]);
    const sent = await waitFor(() => discordMessages(s.appId, channel), (m) => m.length >= 1);
    expect(sent.map((m) => m.content)).toEqual(["echo: once please"]);
    // Again, long after the reply went out: still the same interaction.
    expect(await ackOf(await deliverDiscord(s, ask))).toEqual({ type: 5 });
    await new Promise((r) => setTimeout(r, 300));
    expect(await discordRequests(s.appId)).toHaveLength(1);
    const inbox = (await exportSession(s.tenant.owner, discordSessionKey(s, `group:${channel}`))).inbox;
    expect(inbox).toHaveLength(1);
  });

  it("splits a reply over 2,000 characters: the first part replaces @original, the rest go to the channel with the bot token", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const words = Array.from({ length: 700 }, (_, i) => `w${i}`).join(" ");
    expect(await ackOf(await deliverDiscord(s, command(s, "ask", { text: words, channel })))).toEqual({ type: 5 });
    const viaBot = await waitFor(() => discordMessages(s.botToken, channel), (m) => m.length >= 1);
    const original = (await discordMessages(s.appId, channel)).filter((m) => m.original);
    expect(original).toHaveLength(1);
    const parts = [original[0]?.content ?? "", ...viaBot.map((m) => m.content)];
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(2_000);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.join(" ")).toBe(`echo: ${words}`);
    // The later parts are plain channel messages (no reply reference) that never ping.
    expect(viaBot.every((m) => m.message_reference === null && JSON.stringify(m.allowed_mentions) === '{"parse":[]}')).toBe(true);
    const posts = (await discordRequests(s.botToken)).map((r) => [r.method, r.path]);
    expect(posts).toEqual(viaBot.map(() => ["POST", `/channels/${channel}/messages`]));
  });

  it("a bucket's 429 is retried after its retry_after and does not pause the bot; 5xx retried; nothing lost, order kept", { timeout: 60_000 }, async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    await discordFail(s.appId, "429", 2, { retry_after: 0.4 });
    for (let i = 0; i < 3; i++) expect(await ackOf(await deliverDiscord(s, command(s, "ask", { text: `m${i}`, channel })))).toEqual({ type: 5 });
    const sent = await waitFor(() => discordMessages(s.appId, channel), (m) => m.length >= 3, 30_000, 200);
    expect(sent.map((m) => m.content)).toEqual(["echo: m0", "echo: m1", "echo: m2"]);
    const requests = await discordRequests(s.appId);
    expect(requests.map((r) => r.status)).toEqual([429, 429, 200, 200, 200]);
    // Each retry came after the retry_after Discord asked for.
    expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(400);
    expect((requests[2]?.at ?? 0) - (requests[1]?.at ?? 0)).toBeGreaterThanOrEqual(400);
    expect((await limiter(s.accountId).state()).pausedUntil).toBe(0);
    const outbox = (await exportSession(s.tenant.owner, discordSessionKey(s, `group:${channel}`))).outbox;
    expect(outbox.map((o: any) => [o.state, o.attempts])).toEqual([["sent", 3], ["sent", 1], ["sent", 1]]);

    await discordFail(s.appId, "500", 2);
    await deliverDiscord(s, command(s, "ask", { text: "after two 500s", channel }));
    const more = await waitFor(() => discordMessages(s.appId, channel), (m) => m.length >= 4, 30_000, 200);
    expect(more[3]?.content).toBe("echo: after two 500s");
  });

  it("a global 429 pauses every chat of the bot for its retry_after", { timeout: 60_000 }, async () => {
    const s = await setupDiscord();
    const first = snowflake();
    // A two-part reply: its second part goes to the channel with the bot token and meets the global limit.
    await discordFail(s.botToken, "global429", 1, { retry_after: 2.5 });
    await deliverDiscord(s, command(s, "ask", { text: "x ".repeat(1_100).trim(), channel: first }));
    const refused = await waitFor(() => discordRequests(s.botToken), (l) => l.length >= 1);
    expect(refused[0]?.status).toBe(429);
    const { pausedUntil } = await waitFor(() => limiter(s.accountId).state(), (st) => st.pausedUntil > 0);
    expect(pausedUntil).toBeGreaterThanOrEqual((refused[0]?.at ?? 0) + 2_500);
    // Other channels, which did not get the 429, wait out the pause too.
    const others = Array.from({ length: 4 }, () => snowflake());
    for (const channel of others) await deliverDiscord(s, command(s, "ask", { text: `hi ${channel}`, channel }));
    await waitFor(() => discordMessages(s.appId), (m) => m.length >= others.length + 1);
    const answers = (await discordRequests(s.appId)).filter((r) => r.body && String((r.body as any).content).startsWith("echo: hi"));
    expect(answers).toHaveLength(others.length);
    for (const r of answers) expect(r.at).toBeGreaterThanOrEqual(pausedUntil);
    const rest = await waitFor(() => discordMessages(s.botToken, first), (m) => m.length >= 1);
    expect(rest).toHaveLength(1);
    expect((await discordRequests(s.botToken)).map((r) => r.status)).toEqual([429, 200]);
  });

  it("100 channels x 10 commands with 10% duplicate deliveries: one reply per command, in order", { timeout: 600_000 }, async () => {
    // 1,000 replies: at Discord's default account rate (45/s) the pacing alone is 22 s; this test is
    // about exactly-once and order (send-limits.test.ts covers the pacing), so the account raises it.
    const s = await setupDiscord({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const channels = Array.from({ length: 100 }, () => snowflake());
    const plan = channels.map((channel) => Array.from({ length: 10 }, (_, i) => command(s, "ask", { text: `${channel} message ${i}`, channel, user: `40000000000000${i}` })));
    // The fake learns of every interaction up front (one call per channel, not per delivery).
    for (const asks of plan) await discordControl("interaction", { interactions: asks.map((a) => ({ app: s.appId, token: a.token, channel_id: a.channel_id })) });
    let duplicates = 0;
    await Promise.all(
      plan.map(async (asks, c) => {
        for (let i = 0; i < asks.length; i++) {
          const ask = asks[i] as ReturnType<typeof command>;
          expect(await ackOf(await deliverDiscord(s, ask, { register: false }))).toEqual({ type: 5 });
          // Discord delivering one interaction in ten again (a different one in each channel).
          if (i === c % 10) {
            duplicates++;
            expect(await ackOf(await deliverDiscord(s, ask, { register: false }))).toEqual({ type: 5 });
          }
        }
      }),
    );
    expect(duplicates).toBe(100);
    // One deadline for all 1,000 (generous: a loaded 2-core machine runs this several times slower).
    await waitFor(() => discordRequests(s.appId), (r) => r.length >= 1000, 420_000, 500);
    for (const [c, channel] of channels.entries()) {
      const sent = await discordMessages(s.appId, channel);
      expect(sent.map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: ${channel} message ${i}`));
      // Each reply went into its own interaction's @original.
      expect(sent.map((m) => m.interaction_token)).toEqual((plan[c] ?? []).map((a) => a.token));
    }
    // Nothing more arrives later.
    await new Promise((r) => setTimeout(r, 500));
    expect(await discordRequests(s.appId)).toHaveLength(1000);
  });
});
