// /admin/sessions, /admin/dead-letters, /admin/pairings: what the session Durable Objects hold,
// seen and changed through the admin API. A session key (tenant/agent/channel/account/scope)
// names its tenant, so scope checks need no lookup. Session keys and dead-letter ids go in the
// path URL-encoded.
//   GET    /sessions                       the D1 index (sessions that ran a turn)
//   GET    /sessions/:key/export           everything the session holds, as JSON
//   DELETE /sessions/:key                  erase (right to be forgotten); unlinks the audit rows
//   POST   /sessions/:key/snapshots        save history + profile; .../:id/restore puts it back
//   GET    /dead-letters, POST /dead-letters/:id/retry | /drop
//   GET    /pairings, POST /pairings/approve {code}, POST /pairings/deny {code}
// Every write here changes a Durable Object, so it records its audit intent before the effect
// and an outcome row (`<action>.done`) after (see audit.ts). Audit rows name the session by its
// pseudonymous key (subjects.ts), never by the peer or group id in it.
import { and, desc, eq } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { deadLetters, pairings, sessions } from "../../schema/agents.ts";
import { approvePairingBody } from "../../schema/channels.ts";
import { accountById, accountOfSessionKey, tenantOfSessionKey } from "../agents/config.ts";
import { sessionStub } from "../channels/inbound.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { objectNamed } from "../regions/objects.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditInsert, auditIntent } from "./audit.ts";
import { iso } from "./ids.ts";
import { adminBody, scopedListQuery } from "./request.ts";
import { erasureTombstone, tombstoneDigest } from "../audit/erasure.ts";
import { forgetSubjectStatement, pseudonymousSessionKey, subjectDigest, subjectOfSessionKey, subjectPseudonym } from "./subjects.ts";

export const sessionRoutes = new Hono<AppEnv>();

function sessionKeyParam(c: Context<AppEnv>, write: boolean): string {
  const key = c.req.param("key") ?? "";
  if (key.split("/").length < 5 || key.length > 1024) throw new ApiError(404, "not_found", "No such session.");
  const tenant = tenantOfSessionKey(key);
  assertVisible(c.get("admin"), tenant, "session");
  if (write) tenantForWrite(c.get("admin"), tenant);
  return key;
}

sessionRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(sessions)
    .where(tenantId === undefined ? undefined : eq(sessions.tenantId, tenantId))
    .orderBy(desc(sessions.createdAt))
    .limit(limit);
  return c.json({
    data: rows.map((r) => ({ key: r.key, tenant_id: r.tenantId, agent_id: r.agentId, channel: r.channel, account_id: r.accountId, created_at: iso(r.createdAt) })),
  });
});

sessionRoutes.get("/:key/export", async (c) => {
  const key = sessionKeyParam(c, false);
  return c.json(await sessionStub(c.env, key).exportState());
});

// Erasing is idempotent (an erased object is empty), so an erase cut short after its intent row
// is finished by repeating it. The same batch deletes the subject's pseudonym mapping: from then
// on, no audit row (this one's included) can be tied to the peer or group.
sessionRoutes.delete("/:key", async (c) => {
  const key = sessionKeyParam(c, true);
  const tenantId = tenantOfSessionKey(key);
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const target = await pseudonymousSessionKey(db, tenantId, key);
  const digest = await subjectDigest(tenantId, subjectOfSessionKey(key));
  // The tombstone's keyed digest (workers/audit/erasure.ts). The admin API answers 503 without
  // ADMIN_JWT_SECRET before reaching here; checked anyway, before anything is erased.
  const keyed = await tombstoneDigest(c.env, digest);
  if (keyed === null) throw new ApiError(503, "admin_disabled", "ADMIN_JWT_SECRET is not set.");
  await auditIntent(db, claims, { tenantId, action: "session.erase", target });
  // Messages of the session still waiting in its account's ledger go first, so none is handed to
  // the session after it was erased. Only an account of the key's own tenant is asked: a key is the
  // caller's text, and must not make the gateway wake (or create) another account's object.
  const accountId = accountOfSessionKey(key);
  const account = accountId.length <= 64 ? await accountById(c.env, accountId) : null;
  const waiting = account?.tenantId === tenantId ? await objectNamed(c.env, c.env.ACCOUNT_LEDGERS, account.id).forgetSession(key) : 0;
  const removed = { ...(await sessionStub(c.env, key).erase()), ...(waiting > 0 ? { ledger: waiting } : {}) };
  await db.batch([
    db.delete(sessions).where(eq(sessions.key, key)),
    db.delete(deadLetters).where(eq(deadLetters.sessionKey, key)),
    db.delete(pairings).where(eq(pairings.sessionKey, key)),
    forgetSubjectStatement(db, tenantId, digest),
    erasureTombstone(db, tenantId, keyed),
    auditInsert(db, claims, { tenantId, action: "session.erase.done", target, metadata: removed }),
  ]);
  return c.json({ key, erased: true, removed });
});

sessionRoutes.post("/:key/snapshots", async (c) => {
  const key = sessionKeyParam(c, true);
  const tenantId = tenantOfSessionKey(key);
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const target = await pseudonymousSessionKey(db, tenantId, key);
  await auditIntent(db, claims, { tenantId, action: "session.snapshot", target });
  const snap = await sessionStub(c.env, key).snapshot();
  await db.batch([auditInsert(db, claims, { tenantId, action: "session.snapshot.done", target, metadata: { snapshot: snap.id } })]);
  return c.json({ id: snap.id, at: iso(snap.at) }, 201);
});

sessionRoutes.post("/:key/snapshots/:id/restore", async (c) => {
  const key = sessionKeyParam(c, true);
  const id = Number(c.req.param("id"));
  if (!Number.isSafeInteger(id) || id < 1) throw new ApiError(404, "not_found", "No such snapshot.");
  const tenantId = tenantOfSessionKey(key);
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const target = await pseudonymousSessionKey(db, tenantId, key);
  await auditIntent(db, claims, { tenantId, action: "session.restore", target, metadata: { snapshot: id } });
  if (!(await sessionStub(c.env, key).restore(id))) throw new ApiError(404, "not_found", "No such snapshot.");
  await db.batch([auditInsert(db, claims, { tenantId, action: "session.restore.done", target, metadata: { snapshot: id } })]);
  return c.json({ key, restored: id });
});

export const deadLetterRoutes = new Hono<AppEnv>();

deadLetterRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(deadLetters)
    .where(tenantId === undefined ? undefined : eq(deadLetters.tenantId, tenantId))
    .orderBy(desc(deadLetters.createdAt))
    .limit(limit);
  return c.json({
    data: rows.map((r) => ({
      id: r.id,
      tenant_id: r.tenantId,
      session_key: r.sessionKey,
      intent_id: r.intentId,
      channel: r.channel,
      attempts: r.attempts,
      last_error: r.lastError,
      created_at: iso(r.createdAt),
    })),
  });
});

for (const action of ["retry", "drop"] as const) {
  deadLetterRoutes.post(`/:id/${action}`, async (c) => {
    const claims = c.get("admin");
    const db = database(c.env.DB);
    const row = await db.select().from(deadLetters).where(eq(deadLetters.id, c.req.param("id"))).get();
    if (!row) throw new ApiError(404, "not_found", "No such dead letter.");
    assertVisible(claims, row.tenantId, "dead letter");
    tenantForWrite(claims, row.tenantId);
    // The id is <session key>#<intent>: its audit target carries the pseudonymous key.
    const target = `${await pseudonymousSessionKey(db, row.tenantId, row.sessionKey)}#${row.intentId}`;
    await auditIntent(db, claims, { tenantId: row.tenantId, action: `dead_letter.${action}`, target });
    // Both only change an intent still marked dead, so a repeat after a crash is a no-op.
    const stub = sessionStub(c.env, row.sessionKey);
    const changed = action === "retry" ? await stub.retryDead(row.intentId) : await stub.dropDead(row.intentId);
    await db.batch([
      db.delete(deadLetters).where(eq(deadLetters.id, row.id)),
      auditInsert(db, claims, { tenantId: row.tenantId, action: `dead_letter.${action}.done`, target, metadata: { found: changed } }),
    ]);
    return c.json({ id: row.id, action, found: changed });
  });
}

export const pairingRoutes = new Hono<AppEnv>();

pairingRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(pairings)
    .where(tenantId === undefined ? undefined : eq(pairings.tenantId, tenantId))
    .orderBy(desc(pairings.createdAt))
    .limit(limit);
  return c.json({
    data: rows.map((r) => ({
      id: r.id,
      tenant_id: r.tenantId,
      agent_id: r.agentId,
      channel: r.channel,
      account_id: r.accountId,
      peer_id: r.peerId,
      // A pending code is what the admin types in; listing it is how they see who asks.
      code: r.status === "pending" ? r.code : null,
      status: r.status,
      created_at: iso(r.createdAt),
      approved_at: iso(r.approvedAt),
    })),
  });
});

// The pending request an approve or deny names (by its code, within the caller's tenant), and
// what its audit rows say of it (the sender by pseudonym only).
async function pendingPairing(c: Context<AppEnv>) {
  const claims = c.get("admin");
  const body = await adminBody(c, approvePairingBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  const db = database(c.env.DB);
  const row = await db.select().from(pairings).where(and(eq(pairings.tenantId, tenantId), eq(pairings.code, body.code))).get();
  if (!row || row.status !== "pending") throw new ApiError(404, "not_found", "No pending pairing with this code.");
  const metadata = { agent_id: row.agentId, channel: row.channel, subject: await subjectPseudonym(db, tenantId, `dm:${row.peerId}`) };
  return { claims, tenantId, db, row, metadata };
}

pairingRoutes.post("/approve", async (c) => {
  const { claims, tenantId, db, row, metadata } = await pendingPairing(c);
  await auditIntent(db, claims, { tenantId, action: "pairing.approve", target: row.id, metadata });
  // D1 is the record the session's turn consults; the Durable Object only caches the approval
  // (setting it twice is harmless), so it goes last.
  const approvedAt = Date.now();
  await db.batch([
    db.update(pairings).set({ status: "approved", approvedAt }).where(and(eq(pairings.id, row.id), eq(pairings.status, "pending"))),
    auditInsert(db, claims, { tenantId, action: "pairing.approve.done", target: row.id, metadata }, approvedAt),
  ]);
  await sessionStub(c.env, row.sessionKey).approvePairing(row.id);
  return c.json({ id: row.id, status: "approved", peer_id: row.peerId, approved_at: iso(approvedAt) });
});

// Deny: the pending request is deleted, so its code can never be approved. The sender is not
// blocked: a later message starts a new request with a new code (keeping someone out for good is
// the allowlist policy's job, docs/channels.md). Only a pending request can be denied; an approval
// that won the race first stands (404 here, and the outcome row says found: false).
pairingRoutes.post("/deny", async (c) => {
  const { claims, tenantId, db, row, metadata } = await pendingPairing(c);
  await auditIntent(db, claims, { tenantId, action: "pairing.deny", target: row.id, metadata });
  const [deleted] = await db.batch([db.delete(pairings).where(and(eq(pairings.id, row.id), eq(pairings.status, "pending")))]);
  const found = (deleted.meta.changes ?? 0) > 0;
  const deniedAt = Date.now();
  await db.batch([auditInsert(db, claims, { tenantId, action: "pairing.deny.done", target: row.id, metadata: { ...metadata, found } }, deniedAt)]);
  if (!found) throw new ApiError(404, "not_found", "No pending pairing with this code.");
  return c.json({ id: row.id, status: "denied", peer_id: row.peerId, denied_at: iso(deniedAt) });
});
