// The delivery promise under load and failure: exactly one reply per unique message, in
// per-chat order, with platform retries, a 429 storm, 5xx answers and dead letters.
import { describe, expect, it } from "vitest";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { deliver, dmUpdate, failNext, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "./helpers.ts";

describe("message lifecycle", () => {
  it("100 chats x 10 messages with 10% duplicates: one reply per unique message, in per-chat order", async () => {
    // 1,000 replies of one bot: at Telegram's own account-wide rate (25/s) that alone is 40 s. This
    // test is about exactly-once and order (send-limits.test.ts covers the pacing), so the account
    // raises its limit.
    const s = await setupTelegram({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const chats = Array.from({ length: 100 }, () => newChatId());
    const plan = chats.map((chat) => Array.from({ length: 10 }, (_, i) => dmUpdate(newUpdateId(), chat, `chat ${chat} message ${i}`)));
    let duplicates = 0;
    await Promise.all(
      plan.map(async (updates) => {
        for (const u of updates) {
          const res = await deliver(s.accountId, s.secret, u);
          expect(res.status).toBe(200);
          await res.body?.cancel();
          // A platform retry of this update (10% of them), while or after it is processed.
          if (Math.random() < 0.1) {
            duplicates++;
            const again = await deliver(s.accountId, s.secret, u);
            expect(((await again.json()) as any).status).toBe("duplicate");
          }
        }
      }),
    );
    expect(duplicates).toBeGreaterThan(0);
    for (let c = 0; c < chats.length; c++) {
      const chat = chats[c] as number;
      const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 10, 60_000, 250);
      expect(sent.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: chat ${chat} message ${i}`));
    }
    // Nothing more arrives later.
    await new Promise((r) => setTimeout(r, 500));
    const again = await sentTo(s.token, chats[0] as number);
    expect(again).toHaveLength(10);
  }, 180_000);

  it("a 429 storm with retry_after loses nothing and keeps the order", async () => {
    const s = await setupTelegram({ tokenRef: "TELEGRAM_STORM_BOT" });
    const chats = Array.from({ length: 5 }, () => newChatId());
    await failNext(s.token, "429", 12, 1);
    for (let i = 0; i < 4; i++) {
      await Promise.all(chats.map(async (chat) => (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, `m${i}`))).body?.cancel()));
    }
    for (const chat of chats) {
      const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 4, 60_000, 250);
      expect(sent.map((m) => m.text)).toEqual(["echo: m0", "echo: m1", "echo: m2", "echo: m3"]);
    }
    // The retries are visible in the outbox: some intent needed more than one attempt.
    const exported = await Promise.all(chats.map((chat) => admin(s.tenant.owner, "GET", `/sessions/${encodeURIComponent(sessionKeyFor(s, chat))}/export`)));
    const attempts = exported.flatMap((e) => e.body.outbox.map((o: any) => o.attempts as number));
    expect(attempts.every((a) => a >= 1)).toBe(true);
    expect(Math.max(...attempts)).toBeGreaterThan(1);
    expect(exported.flatMap((e) => e.body.outbox.map((o: any) => o.state))).toEqual(Array(20).fill("sent"));
  }, 120_000);

  it("5xx answers are retried; a refused send is dead-lettered, then retried or dropped through the admin API", async () => {
    const s = await setupTelegram({ tokenRef: "TELEGRAM_STORM_BOT" });
    const chat = newChatId();
    await failNext(s.token, "500", 2);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "after two 500s"));
    const first = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 30_000);
    expect(first.map((m) => m.text)).toEqual(["echo: after two 500s"]);

    // A platform that keeps failing: after MAX_SEND_ATTEMPTS the intent is a dead letter.
    const key = sessionKeyFor(s, chat);
    await failNext(s.token, "500", 100);
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "doomed"));
    const dead = await waitFor(
      () => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`),
      (a) => a.body.data.length >= 1,
      150_000,
      500,
    );
    expect(dead.body.data).toHaveLength(1);
    expect(dead.body.data[0]).toMatchObject({ session_key: key, channel: "telegram", attempts: 8 });
    // Later messages are not held behind a dead one.
    await fetch(`${(await import("cloudflare:workers")).env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(s.token)}/reset`, { method: "POST" });
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "next one"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 30_000);
    const id = encodeURIComponent(dead.body.data[0].id);
    expectStatus(await admin(s.tenant.owner, "POST", `/dead-letters/${id}/retry`), 200);
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2, 30_000);
    expect(sent.map((m) => m.text)).toEqual(["echo: next one", "echo: doomed"]);
    expect((await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`)).body.data).toEqual([]);
    expect((await admin(s.tenant.owner, "POST", `/dead-letters/${id}/drop`)).status).toBe(404);
  }, 240_000);
});
