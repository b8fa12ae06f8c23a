// The delivery promise for WhatsApp: a redelivered message (same wamid) answered once, the
// 4,096-character split, a throughput storm (130429) and the pair rate limit (131056) retried
// without loss, a `failed` status the fake posts back moving its intent to the dead letters with
// Meta's error, the 24-hour window (the template instead, or a dead letter saying why), and
// 100 chats x 10 messages with 10% duplicate deliveries answered exactly once, in order.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import {
  ageInbox,
  deadLetters,
  deliverWa,
  dmBody,
  forwardCallbacks,
  outboxSettled,
  setupWhatsapp,
  statusOf,
  waCalls,
  waFail,
  waSent,
  waSessionKey,
  waStatus,
  waUser,
  waWindow,
  wamid,
  webhookBody,
} from "./whatsapp-helpers.ts";

const DAY = 24 * 3_600_000;

function sessionStub(key: string) {
  return env.SESSIONS.get(env.SESSIONS.idFromName(key));
}

describe("whatsapp delivery", () => {
  it("a redelivered message (same wamid) is answered exactly once", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const id = wamid();
    const answers = await Promise.all([0, 1, 2].map(() => deliverWa(s, dmBody(s, user, "are you there?", id))));
    const statuses = await Promise.all(answers.map(statusOf));
    expect(statuses.filter((x) => x === "accepted")).toHaveLength(1);
    expect(statuses.filter((x) => x === "duplicate")).toHaveLength(2);
    expect((await waitFor(() => waSent(s, user), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: are you there?"]);
    // Meta signs no timestamp: a replay long after is still the same wamid.
    expect(await statusOf(await deliverWa(s, dmBody(s, user, "are you there?", id)))).toBe("duplicate");
    await new Promise((r) => setTimeout(r, 300));
    expect(await waSent(s, user)).toHaveLength(1);
  });

  it("a reply over 4,096 characters is split, in order", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const long = Array.from({ length: 1_500 }, (_, i) => `w${i}`).join(" ").slice(0, 5_000);
    await deliverWa(s, dmBody(s, user, long));
    const sent = await waitFor(() => waSent(s, user), (m) => m.length >= 2);
    for (const m of sent) expect((m.text as string).length).toBeLessThanOrEqual(4_096);
    expect(sent.map((m) => m.text).join(" ").split(/ +/)).toEqual(`echo: ${long}`.split(/ +/));
    await new Promise((r) => setTimeout(r, 300));
    expect(await waSent(s, user)).toHaveLength(2);
  }, 30_000);

  it("a throughput storm (130429) and 5xx answers are retried: nothing lost, order kept", async () => {
    const s = await setupWhatsapp();
    const users = [waUser(), waUser(), waUser()];
    // Seven refusals in all: whichever intents they hit, none runs out of its 8 attempts.
    await waFail(s, "130429", 7);
    for (let i = 0; i < 3; i++) {
      for (const u of users) expect(await statusOf(await deliverWa(s, dmBody(s, u, `m${i}`)))).toBe("accepted");
    }
    for (const u of users) {
      const sent = await waitFor(() => waSent(s, u), (m) => m.length >= 3, 60_000, 250);
      expect(sent.map((m) => m.text)).toEqual(["echo: m0", "echo: m1", "echo: m2"]);
    }
    expect((await waCalls(s)).refused).toBe(7);
    const outboxes = await Promise.all(users.map(async (u) => (await exportSession(s.tenant.owner, waSessionKey(s, u))).outbox));
    expect(outboxes.flat().map((o: any) => o.state)).toEqual(Array(9).fill("sent"));
    await waFail(s, "500", 2);
    await deliverWa(s, dmBody(s, users[0] as string, "after two 500s"));
    const more = await waitFor(() => waSent(s, users[0]), (m) => m.length >= 4, 60_000, 250);
    expect(more[3]?.text).toBe("echo: after two 500s");
    await new Promise((r) => setTimeout(r, 300));
    expect(await waSent(s)).toHaveLength(10);
  }, 120_000);

  it("the pair rate limit (131056) is retried for that chat: delivered once, after the refusals", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    await waFail(s, "131056", 2);
    await deliverWa(s, dmBody(s, user, "not so fast"));
    const key = waSessionKey(s, user);
    const outbox = await waitFor(async () => (await exportSession(s.tenant.owner, key)).outbox, (o: any[]) => o[0]?.state === "sent", 30_000, 200);
    expect(outbox[0].attempts).toBe(3);
    expect((await waSent(s, user)).map((m) => m.text)).toEqual(["echo: not so fast"]);
    expect(await waCalls(s)).toMatchObject({ send: 3, refused: 2 });
  }, 60_000);

  it("a `failed` status the fake posts back moves the sent intent to the dead letters with Meta's error; unknown ones are ignored", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    await deliverWa(s, dmBody(s, user, "deliver me"));
    const [sent] = await waitFor(() => waSent(s, user), (m) => m.length >= 1);
    await outboxSettled(s, user, 1);
    await waStatus(s, sent?.id as string, { code: 131026, title: "Message undeliverable", details: "Message Undeliverable." });
    const [answer] = await forwardCallbacks(s);
    expect(answer?.status).toBe(200);
    expect(await answer?.json()).toMatchObject({ ok: true, status: "receipts", receipts: ["dead_lettered"] });
    const dead = await deadLetters(s);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ channel: "whatsapp", session_key: waSessionKey(s, user) });
    expect(dead[0].last_error).toContain("whatsapp 131026: Message undeliverable");
    const outbox = (await exportSession(s.tenant.owner, waSessionKey(s, user))).outbox;
    expect(outbox).toMatchObject([{ state: "dead", receipt: sent?.id }]);
    // The same status again (Meta redelivers), and a status for a chat with no session: nothing.
    await waStatus(s, sent?.id as string);
    const [again] = await forwardCallbacks(s);
    expect(((await again?.json()) as any).receipts).toEqual(["unknown"]);
    const stranger = waUser();
    const body = webhookBody([{ messaging_product: "whatsapp", metadata: { phone_number_id: s.phoneNumberId }, statuses: [{ id: wamid(), status: "failed", recipient_id: stranger, errors: [{ code: 131026, title: "x" }] }] }]);
    expect(((await (await deliverWa(s, body)).json()) as any).receipts).toEqual(["unknown"]);
    // A failed status of a shape not known here (a group recipient) beside a message: the status
    // is skipped, the message still accepted (a 400 would make Meta redeliver both for days).
    const odd = dmBody(s, user, "still here") as any;
    odd.entry[0].changes[0].value.statuses = [{ id: wamid(), status: "failed", recipient_id: "120363025246125486@g.us", errors: [{ code: 131026, title: "x" }] }];
    const oddAnswer = await deliverWa(s, odd);
    expect(oddAnswer.status).toBe(200);
    expect(((await oddAnswer.json()) as any).events).toMatchObject([{ status: "accepted" }]);
    const sessions = (await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: any) => x.key);
    expect(sessions).toEqual([waSessionKey(s, user)]);
    expect(await deadLetters(s)).toHaveLength(1);
  });

  it("outside the 24-hour window the reply goes as the account's template, its text in {{1}}; a sync 131047 falls back to it too", async () => {
    const s = await setupWhatsapp({ template: { name: "follow_up", language: "en_US", text_parameter: true } });
    const user = waUser();
    await deliverWa(s, dmBody(s, user, "hi"));
    await waitFor(() => waSent(s, user), (m) => m.length >= 1);
    // A day later (the chat's last inbound message aged 25 hours), a proactive message.
    await ageInbox(s, user, DAY + 3_600_000);
    const long = "r".repeat(1_500);
    expect(await sessionStub(waSessionKey(s, user)).notify("sched:wa:1", long)).toBe("queued");
    const sent = await waitFor(() => waSent(s, user), (m) => m.length >= 2);
    expect(sent[1]).toMatchObject({ type: "template", text: null, template: { name: "follow_up", language: "en_US", parameters: ["r".repeat(1_024)] } });
    // WhatsApp's own clock says the window is closed although ours says open: refused at once
    // (131047), the template goes instead in the same attempt.
    await waWindow(s, user, false, true);
    await deliverWa(s, dmBody(s, user, "still there?"));
    const after = await waitFor(() => waSent(s, user), (m) => m.length >= 3);
    expect(after[2]).toMatchObject({ type: "template", template: { name: "follow_up", parameters: ["echo: still there?"] } });
    expect(await deadLetters(s)).toEqual([]);
  });

  it("outside the window with no template: a dead letter at once saying why; an async 131047 status too", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    await deliverWa(s, dmBody(s, user, "hi"));
    await waitFor(() => waSent(s, user), (m) => m.length >= 1);
    await ageInbox(s, user, DAY + 60_000);
    expect(await sessionStub(waSessionKey(s, user)).notify("sched:wa:2", "Reminder")).toBe("queued");
    const dead = await waitFor(() => deadLetters(s), (d) => d.length >= 1);
    expect(dead[0]).toMatchObject({ attempts: 1 });
    expect(dead[0].last_error).toBe("outside WhatsApp's 24-hour customer-service window and no template configured");
    expect(await waSent(s, user)).toHaveLength(1);
    // Meta's usual way: the free-form message is accepted, then a failed status with 131047.
    await waWindow(s, user, false);
    await deliverWa(s, dmBody(s, user, "again"));
    await waitFor(() => waSent(s, user), (m) => m.length >= 2);
    await outboxSettled(s, user, 3);
    const answers = await waitFor(() => forwardCallbacks(s), (a) => a.length >= 1);
    expect(((await answers[0]?.json()) as any).receipts).toEqual(["dead_lettered"]);
    const both = await deadLetters(s);
    expect(both).toHaveLength(2);
    expect(both.map((d) => d.last_error).join("\n")).toContain("whatsapp 131047: Re-engagement message - Message failed to send because more than 24 hours have passed");
    expect(both.map((d) => d.last_error).join("\n")).toContain("24-hour customer-service window");
  });

  it("100 chats x 10 messages with 10% duplicate deliveries: one reply per message, in order", async () => {
    const s = await setupWhatsapp({ limits: { account_sends_per_s: 500, account_send_burst: 100 } });
    const users = Array.from({ length: 100 }, () => waUser());
    let duplicates = 0;
    await Promise.all(
      users.map(async (u, c) => {
        for (let i = 0; i < 10; i++) {
          const body = dmBody(s, u, `${u} message ${i}`);
          expect(await statusOf(await deliverWa(s, body))).toBe("accepted");
          // Meta's redelivery of one message in ten (a different one in each chat).
          if (i === c % 10) {
            duplicates++;
            expect(await statusOf(await deliverWa(s, body))).toBe("duplicate");
          }
        }
      }),
    );
    expect(duplicates).toBe(100);
    for (const u of users) {
      const sent = await waitFor(() => waSent(s, u), (m) => m.length >= 10, 90_000, 250);
      expect(sent.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: ${u} message ${i}`));
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(await waSent(s)).toHaveLength(1000);
  }, 240_000);
});
