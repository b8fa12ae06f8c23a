// End to end with real processes: Telegram-shaped deliveries to `wrangler dev`, replies from the
// gpu-backend's tiny model at the fake Bot API. In the middle of a burst the gateway is killed
// (SIGKILL, no graceful shutdown) and started again on the same state; deliveries that failed
// meanwhile are retried like Telegram retries them. Every accepted message must be answered
// exactly once: per chat, the replies the fake received are exactly the receipts the session's
// outbox recorded, one per unique message.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliverUntilAcked, startStack, update, type Stack } from "./channels-stack.ts";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ log: (m) => console.log(`[channels e2e] ${m}`) });
});

afterAll(async () => {
  await stack?.close();
});

describe("channels end to end", () => {
  it("a gateway killed and restarted mid-burst loses and duplicates nothing", async () => {
    const CHATS = 40;
    const PER_CHAT = 5;
    const chats = Array.from({ length: CHATS }, (_, i) => 5_000_000 + i);
    let nextUpdate = 900_000;
    let acked = 0;
    let killed = false;
    const restart = (async () => {
      while (acked < (CHATS * PER_CHAT) / 3) await new Promise((r) => setTimeout(r, 20));
      await stack.killGateway();
      killed = true;
      await new Promise((r) => setTimeout(r, 1000));
      await stack.startGateway();
    })();
    await Promise.all(
      chats.map(async (chat) => {
        for (let i = 0; i < PER_CHAT; i++) {
          const u = update(nextUpdate++, chat, `message ${i}`);
          await deliverUntilAcked(stack, u);
          acked++;
          // Telegram also re-delivers sometimes.
          if (i === 2) await deliverUntilAcked(stack, u);
        }
      }),
    );
    await restart;
    expect(killed).toBe(true);

    const expected = CHATS * PER_CHAT;
    const until = Date.now() + 180_000;
    while ((await stack.sent()).length < expected && Date.now() < until) await new Promise((r) => setTimeout(r, 500));
    // Anything sent twice would show up a little later.
    await new Promise((r) => setTimeout(r, 2000));
    const sent = await stack.sent();
    expect(sent).toHaveLength(expected);
    for (const chat of chats) {
      const mine = sent.filter((m) => m.chat_id === String(chat));
      expect(mine).toHaveLength(PER_CHAT);
      const session = await stack.exportSession(chat);
      expect(session.inbox.map((r: any) => r.state)).toEqual(Array(PER_CHAT).fill("done"));
      expect(session.outbox.map((o: any) => o.state)).toEqual(Array(PER_CHAT).fill("sent"));
      // Replies went out in message order: the receipts (platform message ids) are the ones the
      // fake handed out for this chat, in the same order.
      expect(session.outbox.map((o: any) => Number(o.receipt))).toEqual(mine.map((m) => m.message_id));
      expect(session.outbox.map((o: any) => o.in_reply_to)).toEqual(session.inbox.map((r: any) => r.msg_id));
    }
  });
});
