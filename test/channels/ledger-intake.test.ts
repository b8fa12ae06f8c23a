// Issue 18 point 1, the cheaper first step for new chats: a message to a session that has not
// started is stored in its account's ledger (durable before the ack) and handed to the session
// after the answer, in order and once, resumed after a crash of the ledger; a started session's
// messages go to it directly, so its own answer (rate_limited included) still reaches the
// platform. The erase route reaches what waits in the ledger, and only its own tenant's.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_PENDING } from "../../durable-objects/account-ledger.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { deliver, dmUpdate, exportSession, handedOn, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor, waitingInLedger, type TelegramSetup } from "./helpers.ts";

const ledgerOf = (accountId: string) => env.ACCOUNT_LEDGERS.get(env.ACCOUNT_LEDGERS.idFromName(accountId));
const statusOf = async (res: Response) => ((await res.json()) as any).status as string;
const texts = (state: any) => (state.inbox as any[]).map((m) => m.msg_id);

// The binding and message the Worker would send for `chat`, built from a started session's
// stored config (so the test can put a message into the ledger without a hand-on running).
async function bindingFor(t: TelegramSetup, startedChat: number, chat: number, updateId: number) {
  const started = env.SESSIONS.get(env.SESSIONS.idFromName(sessionKeyFor(t, startedChat)));
  return runInDurableObject(started, async (object) => {
    const sql = (object as any).sql;
    const meta = (k: string) => JSON.parse(sql.exec("SELECT v FROM meta WHERE k = ?", k).one().v);
    const template = JSON.parse(sql.exec("SELECT message FROM inbox ORDER BY seq LIMIT 1").one().message);
    const message = { ...template, messageId: String(updateId), chatId: String(chat), peerId: String(chat), sender: { ...template.sender, id: String(chat) }, text: `held ${updateId}` };
    return { binding: { key: sessionKeyFor(t, chat), agent: meta("agent"), account: meta("account") }, message };
  });
}

// Takes a message into the ledger with its hand-on switched off, as if the object stopped right
// after the commit that made the message durable (the webhook was answered; nothing else ran).
async function takeHeld(t: TelegramSetup, binding: unknown, message: unknown): Promise<string> {
  return runInDurableObject(ledgerOf(t.accountId), async (object) => {
    const instance = object as any;
    const kick = instance.forwarder.kick;
    instance.forwarder.kick = () => {};
    try {
      return await instance.take(binding, message);
    } finally {
      instance.forwarder.kick = kick;
    }
  });
}

// A row left in the ledger by a hand-on that failed (it waits for the alarm): written as take()
// writes it, with nothing under way for it.
async function leftInLedger(t: TelegramSetup, binding: { key: string }, message: { messageId: string }): Promise<void> {
  await runInDurableObject(ledgerOf(t.accountId), (object) => {
    const instance = object as any;
    instance.sql.exec("INSERT INTO seen (id, session, at) VALUES (?, ?, ?)", message.messageId, binding.key, Date.now());
    instance.sql.exec("INSERT INTO pending (id, session, binding, message) VALUES (?, ?, ?, ?)", message.messageId, binding.key, JSON.stringify(binding), JSON.stringify(message));
    instance.pendingCount++;
  });
}

async function startedTelegram(): Promise<{ t: TelegramSetup; chat: number }> {
  const t = await setupTelegram({ ownToken: true });
  const chat = newChatId();
  expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(newUpdateId(), chat, "hello")))).toBe("accepted");
  expect(await handedOn(t.accountId)).toBe(0);
  return { t, chat };
}

describe("the account ledger's first step for new chats", () => {
  it("answers a new chat's messages from the ledger and hands them on in order, once", async () => {
    const t = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    const ids = [newUpdateId(), newUpdateId(), newUpdateId()];
    const statuses = [];
    for (const [i, id] of ids.entries()) statuses.push(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(id, chat, `m${i}`))));
    // Telegram retrying the first one: a duplicate, whether it still waits in the ledger or not.
    statuses.push(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(ids[0] as number, chat, "m0"))));
    expect(statuses).toEqual(["accepted", "accepted", "accepted", "duplicate"]);
    expect(await handedOn(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, sessionKeyFor(t, chat)))).toEqual(ids.map(String));
    await waitFor(() => sentTo(t.token, chat), (m) => m.length >= 1);
  });

  it("records a started session's message in the session before the ack, and reports its refusal", async () => {
    const t = await setupTelegram({ ownToken: true, limits: { peer_messages_per_min: 2, peer_burst: 2 } });
    const chat = newChatId();
    expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(newUpdateId(), chat, "first")))).toBe("accepted");
    expect(await handedOn(t.accountId)).toBe(0);
    // Direct: in the session's inbox by the time the webhook is answered, nothing waits in the ledger.
    const second = newUpdateId();
    expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(second, chat, "second")))).toBe("accepted");
    expect(await waitingInLedger(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, sessionKeyFor(t, chat)))).toContain(String(second));
    // Over the chat's own rate: the session's answer reaches the platform's ack.
    expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(newUpdateId(), chat, "third")))).toBe("rate_limited");
  });

  it("hands on what it took after a crash of the ledger, and from its alarm", async () => {
    const { t, chat } = await startedTelegram();
    const [crashChat, alarmChat] = [newChatId(), newChatId()];
    const a = await bindingFor(t, chat, crashChat, newUpdateId());
    const b = await bindingFor(t, chat, alarmChat, newUpdateId());
    expect(await takeHeld(t, a.binding, a.message)).toBe("queued");
    expect(await takeHeld(t, b.binding, b.message)).toBe("queued");
    expect(await waitingInLedger(t.accountId)).toBe(2);
    // The object dies with both messages waiting: the next start hands them on.
    try {
      await runInDurableObject(ledgerOf(t.accountId), (_instance, state) => state.abort("simulated crash"));
    } catch {
      // The abort ends this call too.
    }
    expect(await handedOn(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, a.binding.key))).toEqual([a.message.messageId]);
    expect(texts(await exportSession(t.tenant.owner, b.binding.key))).toEqual([b.message.messageId]);

    // Held again without a start to resume it: the alarm (set with the row) hands it on.
    const c = await bindingFor(t, chat, newChatId(), newUpdateId());
    expect(await takeHeld(t, c.binding, c.message)).toBe("queued");
    expect(await runDurableObjectAlarm(ledgerOf(t.accountId))).toBe(true);
    expect(await waitingInLedger(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, c.binding.key))).toEqual([c.message.messageId]);
  });

  it("keeps a chat's order when its later messages arrive while earlier ones wait", async () => {
    const { t, chat } = await startedTelegram();
    // A started chat with a message left in the ledger (a hand-on that has not run, or failed and
    // waits for the alarm): the next one must queue behind it, never pass it by the direct path.
    const held = await bindingFor(t, chat, chat, newUpdateId());
    await leftInLedger(t, held.binding, held.message);
    const next = newUpdateId();
    expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(next, chat, "after")))).toBe("accepted");
    expect(await handedOn(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, held.binding.key)).slice(-2)).toEqual([held.message.messageId, String(next)]);
    // A new chat's messages likewise.
    const fresh = newChatId();
    const first = await bindingFor(t, chat, fresh, newUpdateId());
    expect(await takeHeld(t, first.binding, first.message)).toBe("queued");
    const second = newUpdateId();
    expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(second, fresh, "after")))).toBe("accepted");
    expect(await handedOn(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, first.binding.key))).toEqual([first.message.messageId, String(second)]);
  });

  it("goes direct once MAX_PENDING messages wait, so a flood cannot grow the ledger", async () => {
    const { t } = await startedTelegram();
    await runInDurableObject(ledgerOf(t.accountId), (object) => {
      (object as any).pendingCount = MAX_PENDING;
    });
    const chat = newChatId();
    const id = newUpdateId();
    expect(await statusOf(await deliver(t.accountId, t.secret, dmUpdate(id, chat, "over")))).toBe("accepted");
    // Recorded by its session before the ack: nothing of it was stored in the ledger.
    expect(texts(await exportSession(t.tenant.owner, sessionKeyFor(t, chat)))).toEqual([String(id)]);
    const rows = await runInDurableObject(ledgerOf(t.accountId), (object) => (object as any).sql.exec("SELECT COUNT(*) AS n FROM pending").one().n);
    expect(rows).toBe(0);
  });

  it("an erase removes what waits in the ledger; another tenant's erase cannot reach it", async () => {
    const { t, chat } = await startedTelegram();
    const other = await setupTelegram({ ownToken: true });
    const waiting = await bindingFor(t, chat, newChatId(), newUpdateId());
    expect(await takeHeld(t, waiting.binding, waiting.message)).toBe("queued");
    // Count the erases that reach this account's ledger (forgetSession first waits on its
    // forwarder's settled(); RPC calls the class's own method, so the count sits one level down).
    await runInDurableObject(ledgerOf(t.accountId), (object) => {
      const instance = object as any;
      const settled = instance.forwarder.settled.bind(instance.forwarder);
      instance.forgets = 0;
      instance.forwarder.settled = (key: string) => {
        instance.forgets++;
        return settled(key);
      };
    });
    const forgets = () => runInDurableObject(ledgerOf(t.accountId), (object) => (object as any).forgets as number);
    // The other tenant names the same chat under its own tenant, through this account's id: its
    // erase never reaches this account's ledger.
    const foreignKey = waiting.binding.key.replace(`${t.tenant.tenantId}/${t.agentId}/`, `${other.tenant.tenantId}/${other.agentId}/`);
    expectStatus(await admin(other.tenant.owner, "DELETE", `/sessions/${encodeURIComponent(foreignKey)}`), 200);
    expect(await forgets()).toBe(0);
    expect(await waitingInLedger(t.accountId)).toBe(1);
    // The owner's erase takes it out of the ledger before the session is wiped.
    const erased = expectStatus(await admin(t.tenant.owner, "DELETE", `/sessions/${encodeURIComponent(waiting.binding.key)}`), 200);
    expect(erased.body.removed).toMatchObject({ ledger: 1, messages: 0 });
    expect(await forgets()).toBe(1);
    expect(await handedOn(t.accountId)).toBe(0);
    expect(texts(await exportSession(t.tenant.owner, waiting.binding.key))).toEqual([]);
  });
});
