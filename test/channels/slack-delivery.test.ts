// The delivery promise for Slack: retried deliveries (X-Slack-Retry-Num) answered once, Slack's
// 429 + Retry-After and 5xx retried without loss, its {ok:false,error} answers mapped, and
// 100 channels x 10 messages with 10% duplicate deliveries answered exactly once, in order.
import { describe, expect, it } from "vitest";
import { admin } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import { deliverSlack, dmEvent, newChannel, setupSlack, slackCalls, slackFail, slackSent, slackSessionKey } from "./slack-helpers.ts";

async function statusOf(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { status: string }).status;
}

describe("slack delivery", () => {
  it("answers an event Slack retried (X-Slack-Retry-Num) exactly once", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    const event = dmEvent(dm, "UALICE", "are you there?");
    const answers = await Promise.all([deliverSlack(s, event), deliverSlack(s, event, { retryNum: 1 }), deliverSlack(s, event, { retryNum: 2 })]);
    const statuses = await Promise.all(answers.map(statusOf));
    expect(statuses.filter((x) => x === "accepted")).toHaveLength(1);
    expect(statuses.filter((x) => x === "duplicate")).toHaveLength(2);
    const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 1);
    expect(sent.map((m) => m.text)).toEqual(["echo: are you there?"]);
    // A retry long after the reply went out is still the same message.
    expect(await statusOf(await deliverSlack(s, event, { retryNum: 3 }))).toBe("duplicate");
    await new Promise((r) => setTimeout(r, 300));
    expect(await slackSent(s.botToken, dm)).toHaveLength(1);
  });

  it("a 429 with Retry-After and 5xx answers are retried: nothing lost, order kept", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    await slackFail(s.botToken, "429", 3, { retry_after: 1 });
    for (let i = 0; i < 3; i++) expect(await statusOf(await deliverSlack(s, dmEvent(dm, "UALICE", `m${i}`)))).toBe("accepted");
    const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 3, 60_000, 250);
    expect(sent.map((m) => m.text)).toEqual(["echo: m0", "echo: m1", "echo: m2"]);
    // Every refused call was made again: 3 refused + 3 accepted.
    expect(await slackCalls(s.botToken)).toBe(6);
    const outbox = (await exportSession(s.tenant.owner, slackSessionKey(s, "dm:UALICE"))).outbox;
    expect(outbox.map((o: any) => o.state)).toEqual(["sent", "sent", "sent"]);
    expect(Math.max(...outbox.map((o: any) => o.attempts as number))).toBeGreaterThan(1);
    // Receipts are Slack's message ts.
    expect(outbox.map((o: any) => o.receipt)).toEqual(sent.map((m) => m.ts));

    await slackFail(s.botToken, "500", 2);
    await deliverSlack(s, dmEvent(dm, "UALICE", "after two 500s"));
    const more = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 4, 60_000, 250);
    expect(more[3]?.text).toBe("echo: after two 500s");
  }, 120_000);

  it("an {ok:false} Slack will never accept (channel_not_found) is a dead letter at once; later messages still go", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    await slackFail(s.botToken, "error", 1, { error: "channel_not_found" });
    await deliverSlack(s, dmEvent(dm, "UALICE", "lost cause"));
    const dead = await waitFor(
      () => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`),
      (a) => a.body.data.length >= 1,
      30_000,
      250,
    );
    expect(dead.body.data).toHaveLength(1);
    expect(dead.body.data[0]).toMatchObject({ session_key: slackSessionKey(s, "dm:UALICE"), channel: "slack", attempts: 1 });
    expect(JSON.stringify(dead.body.data[0])).toContain("channel_not_found");
    await deliverSlack(s, dmEvent(dm, "UALICE", "next one"));
    const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 1);
    expect(sent.map((m) => m.text)).toEqual(["echo: next one"]);
    expect(await slackCalls(s.botToken)).toBe(2);
  }, 60_000);

  it("100 channels x 10 messages with 10% duplicate deliveries: one reply per message, in order", async () => {
    // 1,000 replies: at Slack's default account rate (10/s) the pacing alone is 100 s; this test is
    // about exactly-once and order (send-limits.test.ts covers the pacing), so the account raises it.
    const s = await setupSlack({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const users = Array.from({ length: 100 }, (_, c) => `UUSER${c}`);
    const dms = users.map(() => newChannel("D"));
    const plan = dms.map((dm, c) => Array.from({ length: 10 }, (_, i) => dmEvent(dm, users[c] as string, `${dm} message ${i}`)));
    let duplicates = 0;
    await Promise.all(
      plan.map(async (events, c) => {
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as ReturnType<typeof dmEvent>;
          expect(await statusOf(await deliverSlack(s, event))).toBe("accepted");
          // Slack's retry of one message in ten (a different one in each channel).
          if (i === c % 10) {
            duplicates++;
            expect(await statusOf(await deliverSlack(s, event, { retryNum: 1 }))).toBe("duplicate");
          }
        }
      }),
    );
    expect(duplicates).toBe(100);
    for (const dm of dms) {
      const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 10, 60_000, 250);
      expect(sent.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: ${dm} message ${i}`));
    }
    // Nothing more arrives later.
    await new Promise((r) => setTimeout(r, 500));
    expect(await slackSent(s.botToken)).toHaveLength(1000);
  }, 180_000);
});
