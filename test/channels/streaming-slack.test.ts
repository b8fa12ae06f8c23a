// Streamed replies on Slack (stream_replies): chat.postMessage at the first tokens, chat.update
// no faster than the adapter's edit interval (chat.update is Tier 3), the final update carrying
// the whole answer (escaped like a send); one message per reply across a crash of the session
// object; a 429 on updates backs them off and pauses the app's sends.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { slack } from "../../workers/channels/slack.ts";
import { exportSession, waitFor } from "./helpers.ts";
import { deliverSlack, dmEvent, newChannel, slackFail, slackSent, slackSessionKey } from "./slack-helpers.ts";
import { answerOf, crashSession, gaps, settled, slackRejected, slackUpdates, streamingSlack } from "./streaming-helpers.ts";

const INTERVAL = slack.editIntervalMs as number;
const TOLERANCE_MS = 25;

describe("streamed replies on Slack", () => {
  it("post once, update no faster than the interval, end with the whole answer", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await streamingSlack({ scenario });
    const dm = newChannel("D");
    // Characters Slack needs escaped: every update is escaped like the send.
    // Slack delivers text escaped; the model sees "a <b> & c".
    await deliverSlack(s, dmEvent(dm, "U1", "a &lt;b&gt; &amp; c"));
    const done = await settled(s.tenant.owner, slackSessionKey(s, `dm:U1`));
    const posts = await slackSent(s.botToken, dm);
    const updates = await slackUpdates(s.botToken, dm);
    expect(posts).toHaveLength(1);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates.every((u) => u.ts === posts[0]?.ts)).toBe(true);
    for (const gap of gaps([posts[0]?.at as number, ...updates.map((u) => u.at)])) expect(gap).toBeGreaterThanOrEqual(INTERVAL - TOLERANCE_MS);
    const texts = [posts[0]?.text, ...updates.map((u) => u.text)];
    expect(new Set(texts).size).toBe(texts.length);
    expect(updates.at(-1)?.text).toBe(answerOf("a &lt;b&gt; &amp; c", scenario));
    expect(done.outbox).toMatchObject([{ state: "sent", receipt: posts[0]?.ts }]);
    expect(JSON.parse(done.outbox[0].intent).editMessageId).toBe(posts[0]?.ts);
  }, 60_000);

  it("stream_replies off: one message, no updates", async () => {
    const scenario = { stream_words: 10, stream_every_ms: 100 };
    const s = await streamingSlack({ scenario, stream: false });
    const dm = newChannel("D");
    await deliverSlack(s, dmEvent(dm, "U2", "quiet"));
    await settled(s.tenant.owner, slackSessionKey(s, `dm:U2`));
    expect((await slackSent(s.botToken, dm)).map((m) => m.text)).toEqual([answerOf("quiet", scenario)]);
    expect(await slackUpdates(s.botToken, dm)).toEqual([]);
  }, 60_000);

  it("a crash mid-stream ends with one complete message and no second post", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await streamingSlack({ scenario });
    const dm = newChannel("D");
    const key = slackSessionKey(s, `dm:U3`);
    await deliverSlack(s, dmEvent(dm, "U3", "crash me"));
    await waitFor(() => slackUpdates(s.botToken, dm), (u) => u.length >= 1, 20_000, 50);
    const stub = await crashSession(key);
    const crashedAt = Date.now();
    const mid = await exportSession(s.tenant.owner, key);
    expect(mid.inbox.map((m: any) => m.state)).toEqual(["queued"]);
    expect(mid.outbox.map((o: any) => o.state)).toEqual(["streaming"]);
    await runDurableObjectAlarm(stub);
    await settled(s.tenant.owner, key);
    const posts = await slackSent(s.botToken, dm);
    const updates = await slackUpdates(s.botToken, dm);
    expect(posts).toHaveLength(1);
    expect(updates.every((u) => u.ts === posts[0]?.ts)).toBe(true);
    expect(updates.at(-1)?.text).toBe(answerOf("crash me", scenario));
    expect(updates.filter((u) => u.at > crashedAt).length).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it("429s on updates back them off with no storm, and pause the app's sends", async () => {
    const scenario = { stream_words: 50, stream_every_ms: 100 };
    const s = await streamingSlack({ scenario });
    const dm = newChannel("D");
    await deliverSlack(s, dmEvent(dm, "U4", "slow down"));
    await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 1, 20_000, 20);
    await slackFail(s.botToken, "429", 2, { retry_after: 2 });
    await settled(s.tenant.owner, slackSessionKey(s, `dm:U4`));
    const rejected = (await slackRejected(s.botToken)).map((r) => r.at);
    expect(rejected).toHaveLength(2);
    const updates = await slackUpdates(s.botToken, dm);
    const all = [...updates.map((u) => u.at), ...rejected].sort((a, b) => a - b);
    for (const at of rejected) {
      const next = all.find((t) => t > at);
      if (next !== undefined) expect(next - at).toBeGreaterThanOrEqual(2_000 - TOLERANCE_MS);
    }
    expect(await slackSent(s.botToken, dm)).toHaveLength(1);
    expect(updates.at(-1)?.text).toBe(answerOf("slow down", scenario));
    const limiter = env.SEND_LIMITERS.get(env.SEND_LIMITERS.idFromName(s.accountId));
    expect((await limiter.state()).pausedUntil).toBeGreaterThan(0);
  }, 60_000);
});
