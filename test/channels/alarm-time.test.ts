// A session's alarm is never earlier than the time it was asked for. The runtime keeps alarms in
// whole milliseconds (truncated): a send retry due at T.4 once got an alarm at T, which found
// nothing due, set T.4 again and was never run again, leaving a reply unsent until the next
// message (test/channels/line-delivery.test.ts "a 429 storm..." failed about 1 run in 5 on a
// loaded machine). Every alarm time the session sets is now rounded up.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliver, dmUpdate, handedOn, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "./helpers.ts";

describe("session alarm times", () => {
  it("are set no earlier than asked, even for a fractional time", async () => {
    const t = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    await deliver(t.accountId, t.secret, dmUpdate(newUpdateId(), chat, "hi"));
    expect(await handedOn(t.accountId)).toBe(0);
    await waitFor(() => sentTo(t.token, chat), (m) => m.length >= 1);
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(sessionKeyFor(t, chat)));
    const { asked, stored } = await runInDurableObject(stub, async (object, state) => {
      const asked = Date.now() + 60_000 + 0.4;
      await (object as any).wake(asked);
      return { asked, stored: await state.storage.getAlarm() };
    });
    expect(stored).not.toBeNull();
    expect(stored as number).toBeGreaterThanOrEqual(asked);
    expect(stored).toBe(Math.ceil(asked));
  });
});
