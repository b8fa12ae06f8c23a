// Streamed replies and the account-wide send limit: an intermediate edit takes a slot only when
// one is free now (takeSlotNow, on a fixed clock) and is skipped otherwise, so two chats streaming
// at once under a 1/s account limit stay within it; and a first post that fails leaves the reply
// to go whole as a normal send, with no edits.
import { describe, expect, it } from "vitest";
import { pauseSchedule, reserveSlot, takeSlotNow, type SendSchedule } from "../../workers/channels/send-limits.ts";
import { deliver, dmUpdate, failNext, newChatId, newUpdateId, sentTo, sessionKeyFor } from "./helpers.ts";
import { answerOf, settled, streamingTelegram } from "./streaming-helpers.ts";

const fresh = (): SendSchedule => ({ tat: 0, pausedUntil: 0, pauses: 0 });

describe("a slot now or none", () => {
  it("takes free slots like reserveSlot, and reserves nothing when there is none", () => {
    const s = fresh();
    const rate = { perSecond: 10, burst: 2 };
    expect([takeSlotNow(s, rate, 1_000_000), takeSlotNow(s, rate, 1_000_000), takeSlotNow(s, rate, 1_000_000)]).toEqual([true, true, false]);
    // The refusal took nothing: a send asking now gets the next slot, 100 ms on, not 200.
    expect(reserveSlot(s, rate, 1_000_000)).toBe(100);
    // After that slot the bucket has one again.
    expect(takeSlotNow(s, rate, 1_000_100)).toBe(false);
    expect(takeSlotNow(s, rate, 1_000_200)).toBe(true);
  });

  it("has no slot while the account is paused", () => {
    const s = fresh();
    const rate = { perSecond: 10, burst: 5 };
    pauseSchedule(s, rate, 2_000_000);
    expect(takeSlotNow(s, rate, 1_999_999)).toBe(false);
    expect(takeSlotNow(s, rate, 2_000_000)).toBe(true);
  });
});

describe("streamed replies under the account limit", () => {
  it("two chats streaming at once under 1 message/s: edits are skipped, not queued, and both replies end complete", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 100 };
    // The account's own limit: one call a second across all its chats (edits included).
    const s = await streamingTelegram({ scenario, limits: { account_sends_per_s: 1, account_send_burst: 1 } });
    const chats = [newChatId(), newChatId()];
    await Promise.all(chats.map(async (chat, i) => (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, `story ${i}`))).body?.cancel()));
    for (const chat of chats) await settled(s.tenant.owner, sessionKeyFor(s, chat));
    const calls = (await Promise.all(chats.map((chat) => sentTo(s.token, chat)))).flat().sort((a, b) => a.at - b.at);
    for (const [i, chat] of chats.entries()) {
      const mine = calls.filter((c) => c.chat_id === String(chat));
      expect(mine.filter((c) => c.method === "sendMessage")).toHaveLength(1);
      expect(mine.at(-1)?.text).toBe(answerOf(`story ${i}`, scenario));
    }
    // Within the account's limit: at most burst + rate x time (+2 for reserved slots used late),
    // where the two chats alone would have posted and edited about twice a second together.
    const span = (calls.at(-1)?.at as number) - (calls[0]?.at as number);
    expect(calls.length).toBeLessThanOrEqual(1 + span / 1000 + 2);
  }, 90_000);

  it("a first post that fails: no stream, the whole reply goes as a normal send", async () => {
    const scenario = { stream_words: 20, stream_every_ms: 100 };
    const s = await streamingTelegram({ scenario });
    const chat = newChatId();
    await failNext(s.token, "500", 1);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "again"));
    const done = await settled(s.tenant.owner, sessionKeyFor(s, chat));
    const calls = await sentTo(s.token, chat);
    expect(calls.map((c) => [c.method, c.text])).toEqual([["sendMessage", answerOf("again", scenario)]]);
    // The failed post was the intent's first attempt.
    expect(done.outbox).toMatchObject([{ state: "sent", attempts: 2 }]);
    expect(JSON.parse(done.outbox[0].intent).editMessageId).toBeUndefined();
  }, 60_000);
});
