// An account's in_doubt policy (docs/channels.md, "In-doubt sends"): a send whose outcome is
// unknown (the session object died mid-send, or no answer came back) is resent under "resend"
// (the default: at least once) and dead-lettered without a second try under "drop" (at most
// once). The crash is real: the session object is aborted while the fake Telegram holds its send.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ensureSchema, SCHEMA_VERSION } from "../../durable-objects/session-store.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { deliver, dmUpdate, exportSession, failNext, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor, type TelegramSetup } from "./helpers.ts";
import { crashSession } from "./streaming-helpers.ts";

// Sends "first" (answered), then "second" while the fake holds the next send unanswered; once the
// session has counted that attempt, the session object is aborted and its alarm run again.
async function crashMidSend(s: TelegramSetup, chat: number): Promise<string> {
  const key = sessionKeyFor(s, chat);
  await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "first"))).body?.cancel();
  await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 30_000);
  await failNext(s.token, "stall", 1);
  await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "second"))).body?.cancel();
  await waitFor(() => exportSession(s.tenant.owner, key), (e) => e.outbox.length === 2 && e.outbox[1].attempts === 1 && e.outbox[1].state === "pending", 30_000, 50);
  const stub = await crashSession(key);
  await runDurableObjectAlarm(stub);
  return key;
}

describe("in-doubt sends", () => {
  it("resend (the default): a send cut by a crash goes again after the restart", async () => {
    const s = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    const key = await crashMidSend(s, chat);
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2, 30_000);
    expect(sent.map((m) => m.text)).toEqual(["echo: first", "echo: second"]);
    const after = await exportSession(s.tenant.owner, key);
    expect(after.outbox.map((o: any) => [o.state, o.attempts])).toEqual([
      ["sent", 1],
      ["sent", 2],
    ]);
  }, 90_000);

  it("drop: a send cut by a crash becomes a dead letter, is never resent, and the chat goes on", async () => {
    const s = await setupTelegram({ ownToken: true, inDoubt: "drop" });
    const chat = newChatId();
    const key = await crashMidSend(s, chat);
    const dead = await waitFor(() => exportSession(s.tenant.owner, key), (e) => e.outbox[1]?.state === "dead", 30_000);
    expect(dead.outbox[1].last_error).toMatch(/^in doubt: the send was cut/);
    expect(dead.outbox[1].attempts).toBe(1);
    const letters = expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data;
    expect(letters).toHaveLength(1);
    expect(letters[0].last_error).toMatch(/^in doubt/);
    // The next message is answered; the dropped one never reaches the platform.
    await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "third"))).body?.cancel();
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 2, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect((await sentTo(s.token, chat)).map((m) => m.text)).toEqual(["echo: first", "echo: third"]);
    // An operator who decides it should go after all retries it (a resend they chose).
    const letterId = encodeURIComponent(letters[0].id);
    expectStatus(await admin(s.tenant.owner, "POST", `/dead-letters/${letterId}/retry`), 200);
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 3, 30_000);
    expect(sent.map((m) => m.text)).toEqual(["echo: first", "echo: third", "echo: second"]);
  }, 90_000);

  it("drop: a send whose answer never came back is not tried again; resend tries it again", async () => {
    for (const inDoubt of ["drop", "resend"] as const) {
      const s = await setupTelegram({ ownToken: true, inDoubt });
      const chat = newChatId();
      const key = sessionKeyFor(s, chat);
      // A 200 whose body is too large to read: the platform may have made the message.
      await failNext(s.token, "huge", 1);
      await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "lost answer"))).body?.cancel();
      if (inDoubt === "drop") {
        const e = await waitFor(() => exportSession(s.tenant.owner, key), (x) => x.outbox[0]?.state === "dead", 30_000);
        expect(e.outbox[0].attempts).toBe(1);
        expect(e.outbox[0].last_error).toMatch(/^in doubt: no answer .*send failed/);
        expect(await sentTo(s.token, chat)).toEqual([]);
      } else {
        const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 30_000);
        expect(sent.map((m) => m.text)).toEqual(["echo: lost answer"]);
        expect((await exportSession(s.tenant.owner, key)).outbox.map((o: any) => [o.state, o.attempts])).toEqual([["sent", 2]]);
      }
    }
  }, 90_000);

  it("the admin API takes in_doubt only for platforms without idempotent sends, and shows it", async () => {
    const s = await setupTelegram({ inDoubt: "drop" });
    const accounts = expectStatus(await admin(s.tenant.owner, "GET", `/channel-accounts?tenant_id=${s.tenant.tenantId}`), 200).body.data;
    expect(accounts.map((a: any) => a.in_doubt)).toEqual(["drop"]);
    const base = { tenant_id: s.tenant.tenantId, channel: "telegram", name: "other", token_ref: "TELEGRAM_TEST_BOT", bot_username: "edgeclaw_bot" };
    const bad = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, in_doubt: "sometimes" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("'in_doubt'");
    const hook = await admin(s.tenant.owner, "POST", "/channel-accounts", { tenant_id: s.tenant.tenantId, channel: "hook", name: "hook", in_doubt: "drop" });
    expect(hook.status).toBe(400);
    expect(hook.body.error.message).toContain("'in_doubt'");
    const plain = expectStatus(await admin(s.tenant.owner, "POST", "/channel-accounts", base), 201);
    expect(plain.body.in_doubt).toBe("resend");
  });

  it("an object stored before the schema had versions comes up to date once, and a current one runs no DDL", async () => {
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(`schema-test-${crypto.randomUUID()}`));
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      // What an object built before versions holds: version 1 tables, no version row.
      sql.exec("DROP TABLE outbox");
      sql.exec(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, intent_key TEXT NOT NULL UNIQUE, in_reply_to TEXT NOT NULL, intent TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT, receipt TEXT, created_at INTEGER NOT NULL, sent_at INTEGER)",
      );
      sql.exec("INSERT INTO outbox (intent_key, in_reply_to, intent, state, next_at, created_at) VALUES ('k:0', 'k', '{}', 'pending', 0, 0)");
      sql.exec("DELETE FROM meta WHERE k = 'schema_version'");
      expect(() => sql.exec("SELECT sending FROM outbox").toArray()).toThrow();
      ensureSchema(state.storage);
      expect(sql.exec("SELECT intent_key, sending FROM outbox").toArray()).toEqual([{ intent_key: "k:0", sending: null }]);
      expect(sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'schema_version'").one().v).toBe(String(SCHEMA_VERSION));
      // Current: nothing runs (SCHEMA would create the dropped table again).
      sql.exec("DROP TABLE snapshots");
      ensureSchema(state.storage);
      expect(sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'snapshots'").toArray()).toEqual([]);
    });
  });
});
