// The audit half of the usage queue's consumer, through the Worker's real queue() handler: audit
// and usage events share deliveries; a delivery repeated (whole, overlapping, or after a D1 write
// that committed but whose answer was lost) adds no row; a failed write is retried whole; a
// malformed audit message is acknowledged and dropped; and an event still in the queue when its
// subject is erased is written unlinked, never re-linking the person.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { subjectDigest } from "../../workers/admin/subjects.ts";
import { ERASED_PSEUDONYM } from "../../workers/audit/consumer.ts";
import { auditEventOf, sessionTarget, type AuditEvent } from "../../workers/audit/event.ts";
import worker from "../../workers/index.ts";
import type { UsageEvent } from "../../workers/usage/event.ts";
import { admin, expectStatus, makeTenant, uid } from "../gateway/helpers.ts";
import { auditRows } from "./helpers.ts";
import { usageEventFixture } from "../usage/helpers.ts";

type Body = AuditEvent | UsageEvent | unknown;

async function deliver(messages: { id: string; body: Body }[], attempts = 1, db: D1Database = env.DB) {
  const batch = createMessageBatch("edgeclaw-usage", messages.map((m) => ({ ...m, timestamp: new Date(), attempts })));
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, DB: db }, ctx);
  return getQueueResult(batch, ctx);
}

const usage = (tenant: string, i: number): UsageEvent => usageEventFixture(tenant, i);

async function rowsOf(tenant: string): Promise<{ event_id: string | null; target: string; metadata: string; action: string }[]> {
  return (await env.DB.prepare("SELECT event_id, target, metadata, action FROM audit_log WHERE tenant_id = ? ORDER BY id").bind(tenant).all<{ event_id: string | null; target: string; metadata: string; action: string }>()).results;
}

// D1 whose next batch commits and then throws (the answer lost on the way back).
function losesNextAnswer(): { db: D1Database; armed: { on: boolean } } {
  const armed = { on: true };
  const db = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          const result = await target.batch(statements);
          if (armed.on) {
            armed.on = false;
            throw new Error("D1_ERROR: network error after the commit (simulated)");
          }
          return result;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, armed };
}

// The tombstone digest, computed here from its definition (workers/audit/erasure.ts).
async function keyedDigest(secret: string, digest: string): Promise<string> {
  const enc = new TextEncoder();
  const ikm = await crypto.subtle.importKey("raw", enc.encode(secret), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("edgeclaw/audit-erasure-tombstone/v1") }, ikm, 256);
  const key = await crypto.subtle.importKey("raw", bits, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return [...new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(digest)))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("audit consumer", () => {
  it("writes each audit event once across repeated, overlapping and retried deliveries, beside usage events", async () => {
    const tenant = uid("ten-audit-dup");
    const key = `${tenant}/agt_1/telegram/acc_1/dm:peer-ada-4242`;
    const { target, subject } = await sessionTarget(tenant, key);
    const events = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0
        ? auditEventOf({ tenantId: tenant, actor: "channel:telegram", action: "message.accepted", target, subject, metadata: { seq: i } })
        : auditEventOf({ tenantId: tenant, actor: "scheduler", action: "job.run", target: `job:j${i}`, metadata: { outcome: "ok", attempt: 1 } }),
    );
    // On the wire: the session's head and the subject's digest, never the raw peer id.
    expect(JSON.stringify(events)).not.toContain("ada-4242");
    expect(subject.digest).toBe(await subjectDigest(tenant, "dm:peer-ada-4242"));
    const usageEvents = Array.from({ length: 5 }, (_, i) => usage(tenant, i + 1));
    const msg = (e: { id: string }) => ({ id: `m-${e.id}`, body: e as Body });

    const first = await deliver([...events.slice(0, 20).map(msg), ...usageEvents.map(msg)]);
    expect(first.ackAll).toBe(true);
    // Overlapping: 10 seen again, 10 new.
    expect((await deliver(events.slice(10, 30).map(msg))).ackAll).toBe(true);
    // The whole first delivery again, and once more with a write that commits but reports failure.
    expect((await deliver([...events.slice(0, 20).map(msg), ...usageEvents.map(msg)])).ackAll).toBe(true);
    const flaky = losesNextAnswer();
    const lost = await deliver(events.map(msg), 1, flaky.db);
    expect(lost.retryBatch.retry).toBe(true);
    expect(lost.ackAll).toBe(false);
    expect((await deliver(events.map(msg), 2)).ackAll).toBe(true);

    const rows = await rowsOf(tenant);
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(events.map((e) => e.id)));
    // Every subject row names the same pseudonym, and never the raw id.
    const subjectRows = rows.filter((r) => r.action === "message.accepted");
    expect(subjectRows).toHaveLength(10);
    const pseudonyms = new Set(subjectRows.map((r) => (JSON.parse(r.metadata) as { subject: string }).subject));
    expect(pseudonyms.size).toBe(1);
    const [pseudonym] = [...pseudonyms];
    expect(pseudonym).toMatch(/^sub_[0-9a-f]{24}$/);
    for (const r of subjectRows) expect(r.target).toBe(`${tenant}/agt_1/telegram/acc_1/${pseudonym}`);
    expect(JSON.stringify(rows)).not.toContain("ada-4242");
    const mapped = await env.DB.prepare("SELECT pseudonym FROM audit_subjects WHERE tenant_id = ? AND digest = ?").bind(tenant, await subjectDigest(tenant, "dm:peer-ada-4242")).all();
    expect(mapped.results).toEqual([{ pseudonym }]);
    const used = await env.DB.prepare("SELECT COUNT(*) AS n FROM usage_events WHERE tenant_id = ?").bind(tenant).first<{ n: number }>();
    expect(used?.n).toBe(5);
  });

  it("a malformed audit message is acknowledged and dropped; the good ones beside it are written", async () => {
    const tenant = uid("ten-audit-bad");
    const good = auditEventOf({ tenantId: tenant, actor: "scheduler", action: "job.run", target: "job:x", metadata: {} });
    const result = await deliver([
      { id: "bad-action", body: { ...good, id: crypto.randomUUID(), action: "message.deleted" } },
      { id: "bad-subject", body: { ...good, id: crypto.randomUUID(), subject: { digest: "dm:peer-ada-4242", thread: "" } } },
      { id: "bad-extra", body: { ...good, id: crypto.randomUUID(), peer_id: "4242" } },
      { id: "good", body: good },
    ]);
    expect(result.explicitAcks.sort()).toEqual(["bad-action", "bad-extra", "bad-subject"]);
    expect(result.ackAll).toBe(true);
    expect((await rowsOf(tenant)).map((r) => r.event_id)).toEqual([good.id]);
  });

  it("a D1 failure before the write retries the whole delivery, audit rows included, and nothing is half-written", async () => {
    const tenant = uid("ten-audit-down");
    const events = Array.from({ length: 4 }, () => auditEventOf({ tenantId: tenant, actor: "scheduler", action: "job.run", target: "job:y", metadata: {} }));
    const down = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") return async () => Promise.reject(new Error("D1_ERROR: simulated outage"));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const failed = await deliver(events.map((e) => ({ id: e.id, body: e })), 3, down);
    expect(failed.retryBatch.retry).toBe(true);
    expect(failed.ackAll).toBe(false);
    expect(await rowsOf(tenant)).toEqual([]);
    expect((await deliver(events.map((e) => ({ id: e.id, body: e })), 4)).ackAll).toBe(true);
    expect(await rowsOf(tenant)).toHaveLength(4);
  });

  it("an event still queued when its subject is erased is written unlinked (by a keyed tombstone); a later event gets a new pseudonym", async () => {
    const t = await makeTenant();
    const key = `${t.tenantId}/agt_e/telegram/acc_e/dm:777001`;
    const { target, subject } = await sessionTarget(t.tenantId, key);
    const before = auditEventOf({ tenantId: t.tenantId, actor: "channel:telegram", action: "message.accepted", target, subject, metadata: {} });
    // Delivered once before the erase: linked through the mapping the erase then deletes.
    const early = auditEventOf({ tenantId: t.tenantId, actor: "channel:telegram", action: "message.sent", target, subject, metadata: {} });
    expect((await deliver([{ id: early.id, body: early }])).ackAll).toBe(true);
    const aboutPath = `tenant_id=${t.tenantId}&subject=${encodeURIComponent("dm:777001")}&kind=data`;
    expect((await auditRows(t.owner, aboutPath)).data).toHaveLength(1);

    expectStatus(await admin(t.owner, "DELETE", `/sessions/${encodeURIComponent(key)}`), 200);
    // The erase unlinked the delivered row: the subject has no rows any more.
    expect((await auditRows(t.owner, aboutPath)).data).toEqual([]);
    // The tombstone holds only a keyed digest of the subject (HMAC-SHA256, key by HKDF from
    // ADMIN_JWT_SECRET): reading D1 and hashing candidate ids finds nothing.
    const tombs = (await env.DB.prepare("SELECT digest FROM audit_subject_erasures WHERE tenant_id = ?").bind(t.tenantId).all<{ digest: string }>()).results;
    expect(tombs).toEqual([{ digest: await keyedDigest(env.ADMIN_JWT_SECRET!, subject.digest) }]);
    expect(JSON.stringify(tombs)).not.toContain(subject.digest);
    // `before` was made before the erase and arrives after it; `early` is delivered again.
    expect((await deliver([{ id: before.id, body: before }, { id: early.id, body: early }])).ackAll).toBe(true);
    let rows = await rowsOf(t.tenantId);
    const unlinked = rows.find((r) => r.event_id === before.id);
    expect(unlinked?.target).toBe(`${target}/${ERASED_PSEUDONYM}`);
    expect(JSON.parse(unlinked!.metadata)).toEqual({ subject: ERASED_PSEUDONYM });
    expect(rows.filter((r) => r.event_id === early.id)).toHaveLength(1);
    // No mapping was made for the erased person by the late delivery.
    expect((await auditRows(t.owner, aboutPath)).data).toEqual([]);
    const mapping = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_subjects WHERE tenant_id = ? AND digest = ?").bind(t.tenantId, subject.digest).first<{ n: number }>();
    expect(mapping?.n).toBe(0);

    // The person writes again after the erase: a new pseudonym, and only the new row is theirs.
    const after = auditEventOf({ tenantId: t.tenantId, actor: "channel:telegram", action: "message.accepted", target, subject, metadata: {}, at: Date.now() + 1 });
    expect((await deliver([{ id: after.id, body: after }])).ackAll).toBe(true);
    const theirs = (await auditRows(t.owner, aboutPath)).data;
    expect(theirs.map((r) => r.event_id)).toEqual([after.id]);
    rows = await rowsOf(t.tenantId);
    const fresh = rows.find((r) => r.event_id === after.id)!;
    const earlyRow = rows.find((r) => r.event_id === early.id)!;
    expect(fresh.target).toMatch(/\/sub_[0-9a-f]{24}$/);
    expect(fresh.target).not.toBe(earlyRow.target);
  });
});
