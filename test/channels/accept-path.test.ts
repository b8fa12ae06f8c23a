// Issue 18, the webhook ack path: what a session's accept() does for one message, counted at its
// SQL, and the isolate's cached account and binding lookups that come before it. The statements
// are those ChatSession issues synchronously from accept()'s start to its first await (its whole
// transaction; nothing else can run on the object in between).
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ensureSchema } from "../../durable-objects/session-store.ts";
import { admin, expectStatus, token } from "../gateway/helpers.ts";
import { deliver, dmUpdate, handedOn, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "./helpers.ts";

type Statement = { query: string; args: unknown[] };

// Calls accept() inside the object with the binding it stored (as the Worker would send it, or
// with `change` applied to the agent) and records the statements of its transaction.
async function acceptInside(key: string, msgId: string, change?: (agent: any) => void): Promise<{ result: any; statements: Statement[]; agent: any }> {
  const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
  return runInDurableObject(stub, async (object) => {
    const instance = object as any;
    const sql = instance.sql;
    const meta = (k: string) => JSON.parse(sql.exec("SELECT v FROM meta WHERE k = ?", k).one().v);
    const agent = meta("agent");
    change?.(agent);
    const binding = { key, agent, account: meta("account") };
    const message = { ...JSON.parse(sql.exec("SELECT message FROM inbox ORDER BY seq LIMIT 1").one().message), messageId: msgId };
    const statements: Statement[] = [];
    const exec = sql.exec;
    sql.exec = (query: string, ...args: unknown[]) => {
      statements.push({ query, args });
      return exec.call(sql, query, ...args);
    };
    let pending: Promise<unknown>;
    let synchronous: Statement[];
    try {
      pending = instance.accept(binding, message);
      synchronous = [...statements];
    } finally {
      sql.exec = exec;
    }
    const result = await pending;
    return { result, statements: synchronous, agent: meta("agent") };
  });
}

// Waits until the session has answered and sent everything, so no turn outlives its test.
async function settled(key: string): Promise<void> {
  const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
  const open = () =>
    runInDurableObject(stub, (object) => {
      const sql = (object as any).sql;
      return (sql.exec("SELECT COUNT(*) AS n FROM inbox WHERE state = 'queued'").one().n as number) + (sql.exec("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'").one().n as number);
    });
  expect(await waitFor(open, (n) => n === 0, 30_000)).toBe(0);
}

// The meta keys one statement wrote (writeMetaRows binds key, value, key, value...).
function metaKeys(statements: Statement[]): string[] {
  return statements.filter((s) => s.query.startsWith("INSERT INTO meta")).flatMap((s) => s.args.filter((_, i) => i % 2 === 0) as string[]);
}

describe("a session's accept", () => {
  it("records a message of a known session in three statements, and rewrites only the meta that changed", async () => {
    const t = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    expect((await deliver(t.accountId, t.secret, dmUpdate(newUpdateId(), chat, "hello"))).status).toBe(200);
    await waitFor(async () => (await sentTo(t.token, chat)).length, (n) => n >= 1);
    const key = sessionKeyFor(t, chat);

    const fresh = await acceptInside(key, "next-1");
    expect(fresh.result.status).toBe("accepted");
    // The insert that tells new from duplicate, the inbox count, one write of what changed.
    expect(fresh.statements.map((s) => s.query.split(" (")[0]?.split(" WHERE")[0])).toEqual([
      "INSERT INTO inbox",
      "SELECT COUNT(*) AS n FROM inbox",
      "INSERT INTO meta",
    ]);
    // Same agent, account, sender and chat: no config, profile or target is written again.
    expect(metaKeys(fresh.statements).sort()).toEqual(["last_active", "peer_bucket"]);

    const again = await acceptInside(key, "next-1");
    expect(again.result).toEqual({ status: "duplicate", seq: fresh.result.seq });
    expect(metaKeys(again.statements)).toEqual([]);
    expect(again.statements).toHaveLength(2);

    // A changed config is written once, then compared again without a write.
    const changed = await acceptInside(key, "next-2", (agent) => (agent.systemPrompt = "Changed."));
    expect(changed.result.status).toBe("accepted");
    expect(metaKeys(changed.statements).sort()).toEqual(["account", "agent", "binding_version", "key", "last_active", "peer_bucket"]);
    expect(changed.agent.systemPrompt).toBe("Changed.");
    const same = await acceptInside(key, "next-3", (agent) => (agent.systemPrompt = "Changed."));
    expect(metaKeys(same.statements).sort()).toEqual(["last_active", "peer_bucket"]);
    await settled(key);
  });

  it("rolls back a refused message: the inbox cap leaves nothing of it behind", async () => {
    const t = await setupTelegram({ ownToken: true, limits: { inbox_max: 1 } });
    const chat = newChatId();
    expect((await deliver(t.accountId, t.secret, dmUpdate(newUpdateId(), chat, "one"))).status).toBe(200);
    expect(await handedOn(t.accountId)).toBe(0);
    const key = sessionKeyFor(t, chat);
    const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
    const outcome = await runInDurableObject(stub, async (object) => {
      const instance = object as any;
      // Hold the first message queued: the cap is full for the next one.
      instance.sql.exec("UPDATE inbox SET state = 'queued'");
      const before = instance.sql.exec("SELECT COUNT(*) AS n FROM inbox").one().n;
      const meta = (k: string) => JSON.parse(instance.sql.exec("SELECT v FROM meta WHERE k = ?", k).one().v);
      const message = { ...JSON.parse(instance.sql.exec("SELECT message FROM inbox LIMIT 1").one().message), messageId: "over-cap" };
      const result = await instance.accept({ key, agent: meta("agent"), account: meta("account") }, message);
      return { result, before, after: instance.sql.exec("SELECT COUNT(*) AS n FROM inbox").one().n, recorded: instance.sql.exec("SELECT COUNT(*) AS n FROM inbox WHERE msg_id = 'over-cap'").one().n };
    });
    expect(outcome.result).toMatchObject({ status: "refused", code: "inbox_full" });
    expect(outcome.after).toBe(outcome.before);
    expect(outcome.recorded).toBe(0);
    await settled(key);
  });
});

describe("a new session's schema", () => {
  it("is made in one step with the same columns as an object upgraded step by step", async () => {
    const columns = (sql: SqlStorage) =>
      Object.fromEntries(
        ["meta", "inbox", "history", "outbox", "snapshots"].map((t) => [t, sql.exec(`PRAGMA table_info(${t})`).toArray().map((c) => JSON.stringify([c.name, c.type, c.notnull, c.dflt_value, c.pk]))]),
      );
    const indexes = (sql: SqlStorage) => sql.exec("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name").toArray();
    const fresh = env.SESSIONS.get(env.SESSIONS.idFromName(`schema-new-${crypto.randomUUID()}`));
    const made = await runInDurableObject(fresh, (_instance, state) => ({ columns: columns(state.storage.sql), indexes: indexes(state.storage.sql) }));
    const old = env.SESSIONS.get(env.SESSIONS.idFromName(`schema-old-${crypto.randomUUID()}`));
    const upgraded = await runInDurableObject(old, (_instance, state) => {
      const sql = state.storage.sql;
      // Back to version 1 (the outbox without its later column, no version row), then upgraded.
      sql.exec("DROP TABLE outbox");
      sql.exec(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, intent_key TEXT NOT NULL UNIQUE, in_reply_to TEXT NOT NULL, intent TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT, receipt TEXT, created_at INTEGER NOT NULL, sent_at INTEGER)",
      );
      sql.exec("CREATE INDEX outbox_state_idx ON outbox (state, id)");
      sql.exec("DELETE FROM meta WHERE k = 'schema_version'");
      expect(ensureSchema(state.storage)).toBe(false);
      return { columns: columns(sql), indexes: indexes(sql) };
    });
    expect(made.columns.outbox).toContain(JSON.stringify(["sending", "TEXT", 0, null, 0]));
    expect(made).toEqual(upgraded);
  });
});

describe("the isolate's account and binding caches", () => {
  it("see a tenant's own change at once and never hand one tenant's config to another", async () => {
    const a = await setupTelegram({ ownToken: true });
    const b = await setupTelegram({ ownToken: true });
    const [chatA, chatB] = [newChatId(), newChatId()];
    expect((await deliver(a.accountId, a.secret, dmUpdate(newUpdateId(), chatA, "hi"))).status).toBe(200);
    expect((await deliver(b.accountId, b.secret, dmUpdate(newUpdateId(), chatB, "hi"))).status).toBe(200);

    // A's change (a new prompt) reaches A's next message at once, through the cached lookups.
    expectStatus(await admin(a.tenant.owner, "PATCH", `/agents/${a.agentId}`, { system_prompt: "Tenant A, changed." }), 200);
    expect((await deliver(a.accountId, a.secret, dmUpdate(newUpdateId(), chatA, "again"))).status).toBe(200);
    // A's new, more specific binding for one person takes that person's next message at once.
    const other = expectStatus(await admin(a.tenant.owner, "POST", "/agents", { tenant_id: a.tenant.tenantId, name: "other", system_prompt: "Other.", model: "fake-echo" }), 201);
    expectStatus(await admin(a.tenant.owner, "POST", "/bindings", { tenant_id: a.tenant.tenantId, agent_id: other.body.id, peer_id: String(chatA) }), 201);
    expect((await deliver(a.accountId, a.secret, dmUpdate(newUpdateId(), chatA, "to the other"))).status).toBe(200);
    expect((await deliver(b.accountId, b.secret, dmUpdate(newUpdateId(), chatB, "again"))).status).toBe(200);
    expect(await handedOn(a.accountId)).toBe(0);
    expect(await handedOn(b.accountId)).toBe(0);

    const stored = async (key: string) =>
      runInDurableObject(env.SESSIONS.get(env.SESSIONS.idFromName(key)), async (object) => {
        const sql = (object as any).sql;
        const meta = (k: string) => JSON.parse(sql.exec("SELECT v FROM meta WHERE k = ?", k).one().v);
        return { agent: meta("agent"), account: meta("account"), inbox: sql.exec("SELECT COUNT(*) AS n FROM inbox").one().n as number };
      });
    const sessionA = await stored(sessionKeyFor(a, chatA));
    expect(sessionA.agent).toMatchObject({ id: a.agentId, tenantId: a.tenant.tenantId, systemPrompt: "Tenant A, changed." });
    expect(sessionA.inbox).toBe(2);
    const sessionOther = await stored(`${a.tenant.tenantId}/${other.body.id}/telegram/${a.accountId}/dm:${chatA}`);
    expect(sessionOther.agent).toMatchObject({ id: other.body.id, tenantId: a.tenant.tenantId, systemPrompt: "Other." });
    expect(sessionOther.inbox).toBe(1);
    // B's sessions hold B's own config, untouched by A's changes.
    const sessionB = await stored(sessionKeyFor(b, chatB));
    expect(sessionB.agent).toMatchObject({ id: b.agentId, tenantId: b.tenant.tenantId, systemPrompt: "You are a helpful assistant." });
    expect(sessionB.account).toMatchObject({ id: b.accountId, tenantId: b.tenant.tenantId });
    expect(sessionB.inbox).toBe(2);

    // A cached account is no way into it for another tenant: each account's URL takes its own secret only.
    expect((await deliver(b.accountId, a.secret, dmUpdate(newUpdateId(), chatB, "x"))).status).toBe(401);
    expect((await deliver(a.accountId, b.secret, dmUpdate(newUpdateId(), chatA, "x"))).status).toBe(401);
    // B's admin cannot change A's agents or bindings, so nothing it does can reach A's cached entry.
    const adminB = await token({ sub: "b-admin", role: "admin", tenant: b.tenant.tenantId });
    expect([403, 404]).toContain((await admin(adminB, "PATCH", `/agents/${a.agentId}`, { system_prompt: "B was here." })).status);
    expect([403, 404]).toContain((await admin(adminB, "POST", "/bindings", { tenant_id: a.tenant.tenantId, agent_id: a.agentId, peer_id: String(chatA) })).status);
    const chatC = newChatId();
    expect((await deliver(a.accountId, a.secret, dmUpdate(newUpdateId(), chatC, "later"))).status).toBe(200);
    expect(await handedOn(a.accountId)).toBe(0);
    expect((await stored(sessionKeyFor(a, chatC))).agent.systemPrompt).toBe("Tenant A, changed.");
    for (const key of [sessionKeyFor(a, chatA), `${a.tenant.tenantId}/${other.body.id}/telegram/${a.accountId}/dm:${chatA}`, sessionKeyFor(b, chatB), sessionKeyFor(a, chatC)]) await settled(key);
  });
});
