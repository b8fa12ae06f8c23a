// Streamed replies on Discord (stream_replies) through the session's streaming path
// (workers/channels/stream-reply.ts) and the Discord adapter: an interaction's deferred answer is
// the message from the first tokens (edits of @original, nothing posted), no faster than the
// adapter's edit interval, the last edit carrying the whole answer; a crash of the session
// mid-stream still ends in that one message, complete.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { SessionHost } from "../../durable-objects/session-store.ts";
import type { InboundMessage } from "../../schema/channels.ts";
import { discord } from "../../workers/channels/discord.ts";
import { queueReplyParts, ReplyStream } from "../../workers/channels/stream-reply.ts";
import { exportSession, waitFor } from "./helpers.ts";
import { ackOf, command, deliverDiscord, discordMessages, discordRequests, discordSessionKey, setupDiscord, snowflake } from "./discord-helpers.ts";
import { answerOf, crashSession, gaps, settled } from "./streaming-helpers.ts";

const INTERVAL = discord.editIntervalMs as number;
const TOLERANCE_MS = 25;

describe("streamed replies on Discord", () => {
  it("/ask: the deferred @original is edited as the answer grows, no faster than the interval, ending with the whole answer", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await setupDiscord({ scenario, streamReplies: true });
    const channel = snowflake();
    const ask = command(s, "ask", { text: "stream it", channel });
    expect(await ackOf(await deliverDiscord(s, ask))).toEqual({ type: 5 });
    const done = await settled(s.tenant.owner, discordSessionKey(s, `group:${channel}`));
    const requests = await discordRequests(s.appId);
    // Only edits of the interaction's own message: no second message, no bot-token post.
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(requests.every((r) => r.method === "PATCH" && r.path.startsWith(`/webhooks/${s.appId}/${ask.token}/messages/`))).toBe(true);
    expect(await discordRequests(s.botToken)).toEqual([]);
    for (const gap of gaps(requests.map((r) => r.at))) expect(gap).toBeGreaterThanOrEqual(INTERVAL - TOLERANCE_MS);
    const texts = requests.map((r) => (r.body as { content: string }).content);
    expect(new Set(texts).size).toBe(texts.length);
    const messages = await discordMessages(s.appId, channel);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ original: true, content: answerOf("stream it", scenario) });
    expect(texts.at(-1)).toBe(answerOf("stream it", scenario));
    expect(done.outbox).toMatchObject([{ state: "sent" }]);
  }, 60_000);

  it("stream_replies off: one PATCH of @original with the whole answer", async () => {
    const scenario = { stream_words: 10, stream_every_ms: 100 };
    const s = await setupDiscord({ scenario, streamReplies: false });
    const channel = snowflake();
    await deliverDiscord(s, command(s, "ask", { text: "quiet", channel }));
    await settled(s.tenant.owner, discordSessionKey(s, `group:${channel}`));
    const requests = await discordRequests(s.appId);
    expect(requests.map((r) => [r.method, (r.body as { content: string }).content])).toEqual([["PATCH", answerOf("quiet", scenario)]]);
  }, 60_000);

  it("an answer arriving at once while the account has no slot for the first edit: @original still gets it (never left thinking)", async () => {
    const rate = { account_sends_per_s: 1, account_send_burst: 1 };
    const s = await setupDiscord({ streamReplies: true, limits: rate });
    const channel = snowflake();
    const key = discordSessionKey(s, `group:${channel}`);
    await deliverDiscord(s, command(s, "ask", { text: "warm up", channel }));
    await settled(s.tenant.owner, key);
    // The account's limit has no slot for the next 3 s: the stream's first edit is skipped.
    const limiter = env.SEND_LIMITERS.get(env.SEND_LIMITERS.idFromName(s.accountId));
    await limiter.pause({ perSecond: rate.account_sends_per_s, burst: rate.account_send_burst }, 3_000);
    // A short answer comes from a model as one delta (the fake model always splits its answer,
    // so the turn is driven here): the stream opens with the whole text, then the model ends.
    const answer = "Yes, in one piece.";
    await runInDurableObject(env.SESSIONS.get(env.SESSIONS.idFromName(key)), async (instance) => {
      const host = (instance as unknown as { host: SessionHost }).host;
      const warm = JSON.parse(host.sql.exec<{ message: string }>("SELECT message FROM inbox ORDER BY seq LIMIT 1").one().message) as InboundMessage;
      // The same interaction's @original, answered again under a new message id.
      const last = { ...warm, messageId: `${warm.messageId}-again` };
      const stream = ReplyStream.open(host, host.generation(), last) as ReplyStream;
      stream.push(answer);
      await waitFor(async () => host.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE state = 'streaming'").one().n, (n) => n === 1, 10_000, 10);
      await stream.stop();
      host.ctx.storage.transactionSync(() => queueReplyParts(host, last, [answer], Date.now()));
      await host.wake(Date.now());
    });
    const done = await settled(s.tenant.owner, key, 2);
    const patches = (await discordRequests(s.appId)).map((r) => (r.body as { content: string }).content);
    expect(patches.at(-1)).toBe(answer);
    expect(await discordMessages(s.appId, channel)).toMatchObject([{ original: true, content: answer }]);
    expect(done.outbox).toHaveLength(2);
  }, 60_000);

  it("a crash mid-stream ends with the one message, complete", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await setupDiscord({ scenario, streamReplies: true });
    const channel = snowflake();
    const key = discordSessionKey(s, `group:${channel}`);
    await deliverDiscord(s, command(s, "ask", { text: "crash me", channel }));
    await waitFor(() => discordRequests(s.appId), (r) => r.length >= 2, 20_000, 50);
    const stub = await crashSession(key);
    const mid = await exportSession(s.tenant.owner, key);
    expect(mid.inbox.map((m: any) => m.state)).toEqual(["queued"]);
    await runDurableObjectAlarm(stub);
    await settled(s.tenant.owner, key);
    const messages = await discordMessages(s.appId, channel);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.content).toBe(answerOf("crash me", scenario));
    expect(await discordRequests(s.botToken)).toEqual([]);
  }, 90_000);
});
