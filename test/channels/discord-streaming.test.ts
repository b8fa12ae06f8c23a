// Streamed replies on Discord (stream_replies) through the session's streaming path
// (workers/channels/stream-reply.ts) and the Discord adapter: an interaction's deferred answer is
// the message from the first tokens (edits of @original, nothing posted), no faster than the
// adapter's edit interval, the last edit carrying the whole answer; a crash of the session
// mid-stream still ends in that one message, complete.
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { discord } from "../../workers/channels/discord.ts";
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
