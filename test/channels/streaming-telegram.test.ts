// Streamed replies on Telegram (stream_replies): one message posted at the first tokens, edited in
// place with editMessageText no faster than the adapter's edit interval, a final edit with the
// model's whole answer; exactly one message per reply across a crash of the session object; a
// 429 on edits backs them off instead of storming; a reply longer than one message stops editing
// at the first part and sends the rest.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { telegram } from "../../workers/channels/telegram.ts";
import { FAILURE_TEXT } from "../../workers/agents/turn.ts";
import { admin, expectStatus, ownerToken } from "../gateway/helpers.ts";
import { deliver, dmUpdate, exportSession, failNext, newChatId, newUpdateId, sentTo, sessionKeyFor, waitFor } from "./helpers.ts";
import { answerOf, crashSession, gaps, settled, streamingTelegram, telegramRejected, telegramUnmodified } from "./streaming-helpers.ts";

const INTERVAL = telegram.editIntervalMs as number;
// Arrival times at the fake are taken in another process: a few milliseconds of slack.
const TOLERANCE_MS = 25;

describe("streamed replies on Telegram", () => {
  it("post once, edit no faster than the interval, end with the whole answer", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "tell me a story"));
    const key = sessionKeyFor(s, chat);
    const done = await settled(s.tenant.owner, key);
    const calls = await sentTo(s.token, chat);
    const posts = calls.filter((c) => c.method === "sendMessage");
    const edits = calls.filter((c) => c.method === "editMessageText");
    expect(posts).toHaveLength(1);
    // A 4 s answer at one edit a second: several edits, every one into the posted message.
    expect(edits.length).toBeGreaterThanOrEqual(3);
    expect(edits.every((e) => e.message_id === posts[0]?.message_id)).toBe(true);
    for (const gap of gaps(calls.map((c) => c.at))) expect(gap).toBeGreaterThanOrEqual(INTERVAL - TOLERANCE_MS);
    // The text only grows, never repeats, and ends as the model's whole answer.
    const texts = calls.map((c) => c.text);
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts.at(-1)).toBe(answerOf("tell me a story", scenario));
    expect(await telegramUnmodified(s.token)).toEqual([]);
    // The outbox row records the message it edited.
    expect(done.outbox).toHaveLength(1);
    const row = done.outbox[0];
    expect(row).toMatchObject({ intent_key: expect.stringMatching(/^reply:.*:0$/), state: "sent", receipt: String(posts[0]?.message_id) });
    expect(JSON.parse(row.intent)).toMatchObject({ editMessageId: String(posts[0]?.message_id), text: answerOf("tell me a story", scenario) });
  }, 60_000);

  it("stream_replies off: one message with the whole text, no edits", async () => {
    const scenario = { stream_words: 10, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario, stream: false });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "quiet"));
    await settled(s.tenant.owner, sessionKeyFor(s, chat));
    const calls = await sentTo(s.token, chat);
    expect(calls.map((c) => [c.method, c.text])).toEqual([["sendMessage", answerOf("quiet", scenario)]]);
  }, 60_000);

  it("a reply longer than one message: edits stop at the first part, the rest goes as new messages", async () => {
    // 150 x 37 characters: about 5,600, over Telegram's 4,096.
    const scenario = { stream_words: 150, stream_every_ms: 20, stream_word: "abcdefghijklmnopqrstuvwxyz012345678" };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "long"));
    await settled(s.tenant.owner, sessionKeyFor(s, chat), 2);
    const calls = await sentTo(s.token, chat);
    const posts = calls.filter((c) => c.method === "sendMessage");
    expect(posts).toHaveLength(2);
    const first = posts[0]?.message_id;
    const firstCalls = calls.filter((c) => c.message_id === first);
    expect(firstCalls.every((c) => c.text.length <= 4096)).toBe(true);
    // The second message comes after the first one's last edit, and is never edited.
    expect(calls.at(-1)).toMatchObject({ method: "sendMessage", message_id: posts[1]?.message_id });
    const full = answerOf("long", scenario);
    expect(`${firstCalls.at(-1)?.text} ${posts[1]?.text}`).toBe(full);
    for (const gap of gaps(firstCalls.map((c) => c.at))) expect(gap).toBeGreaterThanOrEqual(INTERVAL - TOLERANCE_MS);
    expect(await telegramUnmodified(s.token)).toEqual([]);
  }, 60_000);

  it("a crash mid-stream ends with one complete message: no second post, at most one repeated edit", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "crash me"));
    // Streaming has begun: the message is posted and edited at least once.
    const before = await waitFor(() => sentTo(s.token, chat), (c) => c.filter((m) => m.method === "editMessageText").length >= 1, 20_000, 50);
    expect(before.filter((c) => c.method === "sendMessage")).toHaveLength(1);
    const stub = await crashSession(key);
    const crashedAt = Date.now();
    const mid = await exportSession(s.tenant.owner, key);
    expect(mid.inbox.map((m: any) => m.state)).toEqual(["queued"]);
    expect(mid.outbox).toMatchObject([{ state: "streaming", receipt: String(before[0]?.message_id) }]);
    // The watchdog alarm re-runs the turn (here at once instead of after the lease).
    await runDurableObjectAlarm(stub);
    const done = await settled(s.tenant.owner, key);
    const calls = await sentTo(s.token, chat);
    expect(calls.filter((c) => c.method === "sendMessage")).toHaveLength(1);
    expect(calls.every((c) => c.message_id === before[0]?.message_id)).toBe(true);
    expect(calls.at(-1)?.text).toBe(answerOf("crash me", scenario));
    // The re-run streamed on into the same message (intermediate edits, then the final one).
    expect(calls.filter((c) => c.at > crashedAt).length).toBeGreaterThanOrEqual(2);
    for (const gap of gaps(calls.filter((c) => c.at > crashedAt).map((c) => c.at))) expect(gap).toBeGreaterThanOrEqual(INTERVAL - TOLERANCE_MS);
    expect((await telegramUnmodified(s.token)).length).toBeLessThanOrEqual(1);
    expect(done.outbox).toHaveLength(1);
    expect(done.inbox.map((m: any) => m.reply)).toEqual([answerOf("crash me", scenario)]);
  }, 90_000);

  it("a model failing after streaming began: the sender gets FAILURE_TEXT in the same message", async () => {
    // Every attempt streams 5 pieces, then the connection drops.
    const scenario = { stream_words: 20, stream_every_ms: 100, stream_fail_after: 5 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "doomed"));
    const done = await settled(s.tenant.owner, sessionKeyFor(s, chat), 1, 60_000);
    const calls = await sentTo(s.token, chat);
    expect(calls.filter((c) => c.method === "sendMessage")).toHaveLength(1);
    expect(calls.at(-1)).toMatchObject({ method: "editMessageText", text: FAILURE_TEXT, message_id: calls[0]?.message_id });
    expect(done.inbox.map((m: any) => m.reply)).toEqual([FAILURE_TEXT]);
    for (const gap of gaps(calls.map((c) => c.at))) expect(gap).toBeGreaterThanOrEqual(INTERVAL - TOLERANCE_MS);
  }, 90_000);

  it("a tenant revoked while a reply streams: the cut-off stream is dropped, nothing more is sent", async () => {
    // Each attempt streams 5 pieces, then fails: the turn's retry meets the revocation.
    const scenario = { stream_words: 20, stream_every_ms: 200, stream_fail_after: 5 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "cut short"));
    const key = sessionKeyFor(s, chat);
    await waitFor(() => sentTo(s.token, chat), (calls) => calls.some((c) => c.method === "sendMessage"), 30_000);
    expectStatus(await admin(await ownerToken(), "POST", `/tenants/${s.tenant.tenantId}/revoke`), 200);
    const owner = await ownerToken();
    const halted = await waitFor(() => exportSession(owner, key), (state) => state.inbox.every((m: any) => m.state === "refused"), 60_000);
    expect(halted.inbox.map((m: any) => m.state)).toEqual(["refused"]);
    expect(halted.outbox.map((r: any) => r.state)).toEqual(["dropped"]);
    const sent = (await sentTo(s.token, chat)).length;
    await runDurableObjectAlarm(env.SESSIONS.get(env.SESSIONS.idFromName(key)));
    expect((await sentTo(s.token, chat)).length).toBe(sent);
  }, 90_000);

  it("a tenant revoked mid-stream: no intermediate edit reaches the platform after the revocation is seen", async () => {
    // A 4 s answer that does not fail: only the stream's own check can stop its edits.
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "stop me"));
    await waitFor(() => sentTo(s.token, chat), (c) => c.some((m) => m.method === "editMessageText"), 20_000, 20);
    expectStatus(await admin(await ownerToken(), "POST", `/tenants/${s.tenant.tenantId}/revoke`), 200);
    const revokedAt = Date.now();
    const owner = await ownerToken();
    // The turn ends (the model's answer is complete by then) and its final edit is never sent.
    const halted = await waitFor(
      () => exportSession(owner, key),
      (e) => e.outbox.length === 1 && !["streaming", "pending"].includes(e.outbox[0].state) && e.inbox.every((m: any) => m.state !== "queued"),
      30_000,
    );
    expect(halted.outbox[0].state).toBe("dead");
    // At most the one edit already in flight when the revocation landed.
    const after = (await sentTo(s.token, chat)).filter((c) => c.at > revokedAt);
    expect(after.length).toBeLessThanOrEqual(1);
    expect(after.every((c) => c.method === "editMessageText")).toBe(true);
  }, 60_000);

  it("429s on edits back the edits off (and pause the bot), with no storm", async () => {
    const scenario = { stream_words: 50, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "slow down"));
    await waitFor(() => sentTo(s.token, chat), (c) => c.length >= 1, 20_000, 20);
    // The next two calls (edits) are answered 429 with retry_after 2 s.
    await failNext(s.token, "429", 2, 2);
    await settled(s.tenant.owner, sessionKeyFor(s, chat));
    const calls = await sentTo(s.token, chat);
    const rejected = (await telegramRejected(s.token)).map((r) => r.at);
    expect(rejected).toHaveLength(2);
    // After each 429 nothing reaches the platform before its retry_after has passed.
    const all = [...calls.map((c) => c.at), ...rejected].sort((a, b) => a - b);
    for (const at of rejected) {
      const next = all.find((t) => t > at);
      if (next !== undefined) expect(next - at).toBeGreaterThanOrEqual(2_000 - TOLERANCE_MS);
    }
    expect(calls.filter((c) => c.method === "sendMessage")).toHaveLength(1);
    expect(calls.at(-1)?.text).toBe(answerOf("slow down", scenario));
    // A private chat's 429 is the bot-wide limit: the account's limiter was paused.
    const limiter = env.SEND_LIMITERS.get(env.SEND_LIMITERS.idFromName(s.accountId));
    expect((await limiter.state()).pausedUntil).toBeGreaterThan(0);
  }, 60_000);

  it("a merged batch streams as one reply, after the reply before it is complete", async () => {
    const scenario = { stream_words: 20, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario, agent: { merge_queued: true } });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "first"));
    // While the first reply streams, two more messages queue up: the next turn answers both.
    await waitFor(() => sentTo(s.token, chat), (c) => c.length >= 1, 20_000, 20);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "second"));
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "third"));
    await settled(s.tenant.owner, sessionKeyFor(s, chat), 2);
    const calls = await sentTo(s.token, chat);
    const posts = calls.filter((c) => c.method === "sendMessage");
    expect(posts).toHaveLength(2);
    const last = calls.filter((c) => c.message_id === posts[1]?.message_id);
    expect(last.length).toBeGreaterThanOrEqual(2);
    expect(last.at(-1)?.text).toBe(answerOf("second\n\nthird", scenario));
    // Order: the second message is posted only after the first one's final edit.
    const firstFinal = calls.findLastIndex((c) => c.message_id === posts[0]?.message_id);
    expect(calls.findIndex((c) => c.message_id === posts[1]?.message_id)).toBeGreaterThan(firstFinal);
    expect(calls.filter((c) => c.message_id === posts[0]?.message_id).at(-1)?.text).toBe(answerOf("first", scenario));
  }, 60_000);

  it("merged batch after a failed stream: the retry answering [A, B] goes on in A's message, no second post, nothing left streaming", async () => {
    // Every attempt streams 5 pieces, then the connection drops: A's message is posted, the model
    // call fails, and B arrives while A waits for its retry.
    const scenario = { stream_words: 20, stream_every_ms: 100, stream_fail_after: 5 };
    const s = await streamingTelegram({ scenario, agent: { merge_queued: true } });
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "first"));
    await waitFor(() => sentTo(s.token, chat), (c) => c.some((m) => m.method === "sendMessage"), 20_000, 20);
    await waitFor(() => exportSession(s.tenant.owner, key), (e) => e.inbox[0]?.attempts >= 1 && e.outbox[0]?.receipt !== null, 20_000, 50);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "second"));
    const done = await settled(s.tenant.owner, key, 1, 80_000);
    const calls = await sentTo(s.token, chat);
    const posts = calls.filter((c) => c.method === "sendMessage");
    expect(posts).toHaveLength(1);
    expect(calls.every((c) => c.message_id === posts[0]?.message_id)).toBe(true);
    expect(calls.at(-1)).toMatchObject({ method: "editMessageText", text: FAILURE_TEXT });
    expect(done.inbox.map((m: any) => m.reply)).toEqual([FAILURE_TEXT, FAILURE_TEXT]);
    expect(done.outbox.map((r: any) => r.state)).toEqual(["sent"]);
  }, 120_000);

  it("a streamed message the user deleted: edits stop, and the whole reply comes as a new message", async () => {
    const scenario = { stream_words: 30, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "gone"));
    const [post] = await waitFor(() => sentTo(s.token, chat), (c) => c.length >= 1, 20_000, 20);
    await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(s.token)}/delete`, { method: "POST", body: JSON.stringify({ chat_id: chat, message_id: post?.message_id }) });
    const done = await settled(s.tenant.owner, sessionKeyFor(s, chat));
    const calls = await sentTo(s.token, chat);
    // Only the two posts reached the chat: the deleted message took no edit.
    expect(calls.map((c) => c.method)).toEqual(["sendMessage", "sendMessage"]);
    expect(calls[1]?.text).toBe(answerOf("gone", scenario));
    expect(done.outbox).toMatchObject([{ state: "sent", receipt: String(calls[1]?.message_id) }]);
    expect(done.outbox[0].last_error).toBeNull();
  }, 60_000);
});
