// The delivery promise for LINE: a redelivered event (same webhookEventId) answered once, the
// 5,000-character split, a 429 storm and 5xx retried without loss, a push whose answer was lost
// resent with the same X-Line-Retry-Key and delivered exactly once (LINE's 409), dead letters for
// what no retry fixes, and 100 chats x 10 messages with 10% duplicate deliveries answered
// exactly once, in order.
import { describe, expect, it } from "vitest";
import { admin } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import { deliverLine, dm, issueReplyToken, lineCalls, lineFail, lineSent, lineSessionKey, lineUserId, setupLine, statusOf, textEvent, webhookBody } from "./line-helpers.ts";

describe("line delivery", () => {
  it("a redelivered event (same webhookEventId, isRedelivery) is answered exactly once", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const token = await issueReplyToken(s, user);
    const first = textEvent(dm(user), "are you there?", { replyToken: token });
    const redelivered = { ...first, deliveryContext: { isRedelivery: true } };
    const answers = await Promise.all([deliverLine(s, webhookBody(s, [first])), deliverLine(s, webhookBody(s, [redelivered])), deliverLine(s, webhookBody(s, [first]))]);
    const statuses = await Promise.all(answers.map(statusOf));
    expect(statuses.filter((x) => x === "accepted")).toHaveLength(1);
    expect(statuses.filter((x) => x === "duplicate")).toHaveLength(2);
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 1);
    expect(sent.map((m) => m.text)).toEqual(["echo: are you there?"]);
    // A redelivery long after the reply went out is still the same event.
    expect(await statusOf(await deliverLine(s, webhookBody(s, [redelivered])))).toBe("duplicate");
    await new Promise((r) => setTimeout(r, 300));
    expect(await lineSent(s, user)).toHaveLength(1);
  });

  it("a reply over 5,000 characters is split: the first part by reply token, the rest by push, in order", async () => {
    const s = await setupLine();
    const user = lineUserId();
    const token = await issueReplyToken(s, user);
    // A user's message holds at most 5,000 characters; its echo ("echo: " + it) is longer.
    const long = Array.from({ length: 1_500 }, (_, i) => `w${i}`).join(" ").slice(0, 5_000);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), long, { replyToken: token })]));
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 2);
    expect(sent.map((m) => m.via)).toEqual(["reply", "push"]);
    for (const m of sent) expect(m.text.length).toBeLessThanOrEqual(5_000);
    expect(sent.map((m) => m.text).join(" ").split(/ +/)).toEqual(`echo: ${long}`.split(/ +/));
    expect(sent[1]?.retryKey).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 300));
    expect(await lineSent(s, user)).toHaveLength(2);
  }, 30_000);

  it("a 429 storm and 5xx answers are retried: nothing lost, order kept", async () => {
    const s = await setupLine();
    const users = [lineUserId(), lineUserId(), lineUserId()];
    // Seven refusals in all: whichever intents they hit, none runs out of its 8 attempts.
    await lineFail(s, "429", 7);
    for (let i = 0; i < 3; i++) {
      for (const u of users) expect(await statusOf(await deliverLine(s, webhookBody(s, [textEvent(dm(u), `m${i}`)])))).toBe("accepted");
    }
    for (const u of users) {
      const sent = await waitFor(() => lineSent(s, u), (m) => m.length >= 3, 60_000, 250);
      expect(sent.map((m) => m.text)).toEqual(["echo: m0", "echo: m1", "echo: m2"]);
    }
    expect((await lineCalls(s)).refused429).toBe(7);
    const outboxes = await Promise.all(users.map(async (u) => (await exportSession(s.tenant.owner, lineSessionKey(s, `dm:${u}`))).outbox));
    expect(outboxes.flat().map((o: any) => o.state)).toEqual(Array(9).fill("sent"));

    await lineFail(s, "500", 2);
    await deliverLine(s, webhookBody(s, [textEvent(dm(users[0] as string), "after two 500s")]));
    const more = await waitFor(() => lineSent(s, users[0]), (m) => m.length >= 4, 60_000, 250);
    expect(more[3]?.text).toBe("echo: after two 500s");
    await new Promise((r) => setTimeout(r, 300));
    expect(await lineSent(s)).toHaveLength(10);
  }, 120_000);

  it("a push LINE executed but whose answer was lost is resent with the same retry key: exactly one message (409 = success)", async () => {
    const s = await setupLine();
    const user = lineUserId();
    // No reply token (as for a redelivered event): the reply goes by push; the fake executes the
    // first push, then cuts the connection before answering.
    await lineFail(s, "drop", 1);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "exactly once")]));
    const key = lineSessionKey(s, `dm:${user}`);
    const outbox = await waitFor(async () => (await exportSession(s.tenant.owner, key)).outbox, (o: any[]) => o[0]?.state === "sent", 30_000, 200);
    expect(outbox[0].attempts).toBe(2);
    const sent = await lineSent(s, user);
    expect(sent.map((m) => m.text)).toEqual(["echo: exactly once"]);
    const calls = await lineCalls(s);
    expect(calls).toMatchObject({ push: 2, conflicts: 1 });
    // A later message is a new intent with a new key: delivered too.
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "and again")]));
    const both = await waitFor(() => lineSent(s, user), (m) => m.length >= 2);
    expect(both.map((m) => m.text)).toEqual(["echo: exactly once", "echo: and again"]);
    expect(both[0]?.retryKey).not.toBe(both[1]?.retryKey);
  }, 60_000);

  it("a stalled push times out and is retried with the same key; sent once", async () => {
    const s = await setupLine();
    const user = lineUserId();
    await lineFail(s, "stall", 1);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "patience")]));
    const sent = await waitFor(() => lineSent(s, user), (m) => m.length >= 1, 40_000, 250);
    expect(sent.map((m) => m.text)).toEqual(["echo: patience"]);
    expect((await lineCalls(s)).push).toBe(2);
  }, 60_000);

  it("the monthly quota (429 'monthly limit') and a bad access token are dead letters with LINE's reason; later messages still go", async () => {
    const s = await setupLine();
    const user = lineUserId();
    await lineFail(s, "monthly", 1);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "over quota")]));
    const dead = await waitFor(() => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), (a) => a.body.data.length >= 1, 30_000, 250);
    expect(dead.body.data).toHaveLength(1);
    expect(dead.body.data[0]).toMatchObject({ channel: "line", attempts: 1 });
    expect(JSON.stringify(dead.body.data[0])).toContain("monthly limit");
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "next month")]));
    expect((await waitFor(() => lineSent(s, user), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: next month"]);

    // The vault's token replaced by one LINE does not know: 401, a dead letter at once.
    expect((await admin(s.tenant.owner, "PUT", "/secrets/line-token", { tenant_id: s.tenant.tenantId, value: "revoked-token" })).status).toBeLessThan(300);
    await deliverLine(s, webhookBody(s, [textEvent(dm(user), "locked out")]));
    const dead2 = await waitFor(() => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), (a) => a.body.data.length >= 2, 30_000, 250);
    expect(JSON.stringify(dead2.body.data)).toContain("line push 401");
  }, 60_000);

  it("100 chats x 10 messages with 10% duplicate deliveries: one reply per message, in order", async () => {
    // 1,000 replies: the default account rate (100/s) alone would be fine, but a loaded machine
    // runs them slower than that; this test is about exactly-once and order.
    const s = await setupLine({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const users = Array.from({ length: 100 }, () => lineUserId());
    const plan = await Promise.all(
      users.map(async (u) => Promise.all(Array.from({ length: 10 }, async (_, i) => textEvent(dm(u), `${u} message ${i}`, { replyToken: await issueReplyToken(s, u) })))),
    );
    let duplicates = 0;
    await Promise.all(
      plan.map(async (events, c) => {
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as ReturnType<typeof textEvent>;
          expect(await statusOf(await deliverLine(s, webhookBody(s, [event])))).toBe("accepted");
          // LINE's redelivery of one event in ten (a different one in each chat).
          if (i === c % 10) {
            duplicates++;
            expect(await statusOf(await deliverLine(s, webhookBody(s, [{ ...event, deliveryContext: { isRedelivery: true } }])))).toBe("duplicate");
          }
        }
      }),
    );
    expect(duplicates).toBe(100);
    for (const u of users) {
      const sent = await waitFor(() => lineSent(s, u), (m) => m.length >= 10, 90_000, 250);
      expect(sent.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: ${u} message ${i}`));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(await lineSent(s)).toHaveLength(1000);
  }, 240_000);
});
