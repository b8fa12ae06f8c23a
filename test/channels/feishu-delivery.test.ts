// The delivery promise for Feishu / Lark: a redelivered event (same event_id) answered once; the
// tenant_access_token fetched once for many concurrent sends, refreshed near its expiry and
// refetched when Feishu calls it invalid; a send Feishu executed but whose answer was lost resent
// with the same uuid and delivered once; frequency-limit storms and 5xx retried without loss;
// dead letters for what no retry fixes; 100 chats x 10 messages with 10% duplicate deliveries
// answered exactly once, in order.
import { describe, expect, it } from "vitest";
import { admin } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import { deliverFeishu, feishuCalls, feishuConfig, feishuExpireTokens, feishuFail, feishuId, feishuSent, feishuSessionKey, messageEvent, setupFeishu, statusOf } from "./feishu-helpers.ts";

const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("feishu delivery", () => {
  it("a redelivered event (same event_id) is answered exactly once", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    const event = messageEvent(s, user, "are you there?", { chatId: chat });
    // Feishu re-encrypts a redelivery (a new IV): the same event, another body.
    const statuses = await Promise.all([deliverFeishu(s, event), deliverFeishu(s, event), deliverFeishu(s, event)].map(async (r) => statusOf(await r)));
    expect(statuses.filter((x) => x === "accepted")).toHaveLength(1);
    expect(statuses.filter((x) => x === "duplicate")).toHaveLength(2);
    expect((await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: are you there?"]);
    expect(await statusOf(await deliverFeishu(s, event))).toBe("duplicate");
    await quiet(300);
    expect(await feishuSent(s, chat)).toHaveLength(1);
  });

  it("one token request serves many concurrent sends across chats (one FeishuTokenCache per account)", async () => {
    const s = await setupFeishu({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const chats = Array.from({ length: 30 }, () => ({ user: feishuId("ou"), chat: feishuId("oc") }));
    await Promise.all(chats.map(async (c) => expect(await statusOf(await deliverFeishu(s, messageEvent(s, c.user, "hi", { chatId: c.chat })))).toBe("accepted")));
    await waitFor(() => feishuSent(s), (m) => m.length >= 30, 30_000, 200);
    expect((await feishuCalls(s)).token).toBe(1);
  }, 60_000);

  it("a token near its expiry is refreshed; one Feishu calls invalid is dropped and refetched, and the send succeeds", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    // Tokens that live 4 s: cached for half that, then refreshed.
    await feishuConfig(s, 4);
    await deliverFeishu(s, messageEvent(s, user, "one", { chatId: chat }));
    await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1);
    expect((await feishuCalls(s)).token).toBe(1);
    await quiet(4_200);
    await feishuConfig(s, 7200);
    await deliverFeishu(s, messageEvent(s, user, "two", { chatId: chat }));
    await waitFor(() => feishuSent(s, chat), (m) => m.length >= 2);
    expect((await feishuCalls(s)).token).toBe(2);
    // Feishu revokes every token of the app (a rotated secret, a reset): the next send is
    // answered 99991663, the cache dropped, a new token fetched, the send made again.
    await feishuExpireTokens(s);
    await deliverFeishu(s, messageEvent(s, user, "three", { chatId: chat }));
    const sent = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 3);
    expect(sent.map((m) => m.text)).toEqual(["echo: one", "echo: two", "echo: three"]);
    expect((await feishuCalls(s)).token).toBe(3);
    const outbox = (await exportSession(s.tenant.owner, feishuSessionKey(s, `dm:${user}`))).outbox;
    expect(outbox.map((o: any) => [o.state, o.attempts])).toEqual([["sent", 1], ["sent", 1], ["sent", 1]]);
  }, 30_000);

  it("a send Feishu executed but whose answer was lost is resent with the same uuid: exactly one message", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    await feishuFail(s, "drop", 1);
    await deliverFeishu(s, messageEvent(s, user, "exactly once", { chatId: chat }));
    const key = feishuSessionKey(s, `dm:${user}`);
    const outbox = await waitFor(async () => (await exportSession(s.tenant.owner, key)).outbox, (o: any[]) => o[0]?.state === "sent", 30_000, 200);
    expect(outbox[0].attempts).toBe(2);
    expect((await feishuSent(s, chat)).map((m) => m.text)).toEqual(["echo: exactly once"]);
    expect(await feishuCalls(s)).toMatchObject({ create: 2, deduped: 1 });
    // The receipt is the message Feishu made the first time.
    expect(outbox[0].receipt).toBe((await feishuSent(s, chat))[0]?.id);
    await deliverFeishu(s, messageEvent(s, user, "and again", { chatId: chat }));
    const both = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 2);
    expect(both.map((m) => m.text)).toEqual(["echo: exactly once", "echo: and again"]);
    expect(both[0]?.uuid).not.toBe(both[1]?.uuid);
  }, 60_000);

  it("frequency limits (429/99991400 with x-ogw-ratelimit-reset, 230020 per chat) and 5xx are retried: nothing lost, order kept", async () => {
    const s = await setupFeishu();
    const users = [feishuId("ou"), feishuId("ou"), feishuId("ou")];
    const chats = users.map(() => feishuId("oc"));
    await feishuFail(s, "rate", 4, { reset_s: 1 });
    for (let i = 0; i < 3; i++) {
      for (const [j, u] of users.entries()) expect(await statusOf(await deliverFeishu(s, messageEvent(s, u, `m${i}`, { chatId: chats[j] })))).toBe("accepted");
    }
    for (const chat of chats) {
      const sent = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 3, 60_000, 250);
      expect(sent.map((m) => m.text)).toEqual(["echo: m0", "echo: m1", "echo: m2"]);
    }
    expect((await feishuCalls(s)).refusedRate).toBe(4);
    await feishuFail(s, "rate400", 1);
    await deliverFeishu(s, messageEvent(s, users[0] as string, "after a 400 frequency limit", { chatId: chats[0] }));
    await waitFor(() => feishuSent(s, chats[0]), (m) => m.length >= 4, 30_000, 250);
    await feishuFail(s, "chat-rate", 2);
    await deliverFeishu(s, messageEvent(s, users[0] as string, "after 230020", { chatId: chats[0] }));
    await waitFor(() => feishuSent(s, chats[0]), (m) => m.length >= 5, 30_000, 250);
    await feishuFail(s, "500", 2);
    await deliverFeishu(s, messageEvent(s, users[0] as string, "after two 500s", { chatId: chats[0] }));
    const last = await waitFor(() => feishuSent(s, chats[0]), (m) => m.length >= 6, 30_000, 250);
    expect(last.slice(3).map((m) => m.text)).toEqual(["echo: after a 400 frequency limit", "echo: after 230020", "echo: after two 500s"]);
    expect(await feishuCalls(s)).toMatchObject({ refusedRate: 5, refusedChatRate: 2 });
    await quiet(300);
    expect(await feishuSent(s)).toHaveLength(12);
  }, 120_000);

  it("a refused app secret and a permanent refusal are dead letters with Feishu's code; later messages still go", async () => {
    const s = await setupFeishu();
    const user = feishuId("ou");
    const chat = feishuId("oc");
    await feishuFail(s, "status", 1, { status: 400, code: 230002 });
    await deliverFeishu(s, messageEvent(s, user, "not in that chat", { chatId: chat }));
    const dead = await waitFor(() => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), (a) => a.body.data.length >= 1, 30_000, 250);
    expect(dead.body.data[0]).toMatchObject({ channel: "feishu", attempts: 1 });
    expect(JSON.stringify(dead.body.data[0])).toContain("code 230002");
    await deliverFeishu(s, messageEvent(s, user, "next", { chatId: chat }));
    expect((await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: next"]);
    // The App Secret in the vault replaced by a wrong one, every token revoked: the token
    // request is refused (10014), a dead letter at once rather than a storm.
    expect((await admin(s.tenant.owner, "PUT", "/secrets/feishu-secret", { tenant_id: s.tenant.tenantId, value: "wrong-secret" })).status).toBeLessThan(300);
    await feishuExpireTokens(s);
    await deliverFeishu(s, messageEvent(s, user, "locked out", { chatId: chat }));
    const dead2 = await waitFor(() => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), (a) => a.body.data.length >= 2, 30_000, 250);
    const locked = dead2.body.data.find((d: any) => JSON.stringify(d).includes("code 10014"));
    // At once: one attempt, not a retry storm against a secret that will not change by itself.
    expect(locked).toMatchObject({ channel: "feishu", attempts: 1 });
  }, 60_000);

  it("100 chats x 10 messages with 10% duplicate deliveries: one reply per message, in order", async () => {
    const s = await setupFeishu({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const chats = Array.from({ length: 100 }, () => ({ user: feishuId("ou"), chat: feishuId("oc") }));
    let duplicates = 0;
    await Promise.all(
      chats.map(async ({ user, chat }, c) => {
        for (let i = 0; i < 10; i++) {
          const event = messageEvent(s, user, `${chat} message ${i}`, { chatId: chat });
          expect(await statusOf(await deliverFeishu(s, event))).toBe("accepted");
          // Feishu's redelivery of one event in ten (a different one in each chat).
          if (i === c % 10) {
            duplicates++;
            expect(await statusOf(await deliverFeishu(s, event))).toBe("duplicate");
          }
        }
      }),
    );
    expect(duplicates).toBe(100);
    for (const { chat } of chats) {
      const sent = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 10, 90_000, 250);
      expect(sent.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: ${chat} message ${i}`));
    }
    await quiet(500);
    expect(await feishuSent(s)).toHaveLength(1000);
    expect((await feishuCalls(s)).token).toBe(1);
  }, 240_000);
});
