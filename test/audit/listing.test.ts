// GET /admin/audit's filters over admin and data-plane rows: action (exact or prefix), actor, kind,
// since/until (ISO or epoch ms), the before_id cursor; every filter stays inside the token's
// tenant scope, and a bad value is a 400 JSON error naming the parameter. The data-plane rows are
// put through the Worker's real queue handler, as the producers' queue would deliver them.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { auditEventOf, sessionTarget, type AuditInput } from "../../workers/audit/event.ts";
import worker from "../../workers/index.ts";
import { database } from "../../workers/db.ts";
import { findPseudonym } from "../../workers/admin/subjects.ts";
import { admin, makeTenant, ownerToken, token, type TestTenant } from "../gateway/helpers.ts";
import { auditRows } from "./helpers.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
let a: TestTenant;
let b: TestTenant;
let adminA: string;
let adminB: string;

async function produce(inputs: AuditInput[]): Promise<void> {
  const events = inputs.map((i) => auditEventOf(i));
  const batch = createMessageBatch("edgeclaw-usage", events.map((e) => ({ id: e.id, body: e, timestamp: new Date(), attempts: 1 })));
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);
}

beforeAll(async () => {
  [a, b] = await Promise.all([makeTenant(), makeTenant()]);
  adminA = await token({ sub: "alice", role: "admin", tenant: a.tenantId });
  adminB = await token({ sub: "bob", role: "admin", tenant: b.tenantId });
  for (const t of [a, b]) {
    const session = await sessionTarget(t.tenantId, `${t.tenantId}/agt_1/telegram/acc_1/dm:9001`);
    await produce([
      { tenantId: t.tenantId, actor: "channel:telegram", action: "message.accepted", ...session, metadata: { seq: 1 }, at: T0 },
      { tenantId: t.tenantId, actor: "channel:telegram", action: "message.sent", ...session, metadata: { intent_id: 1 }, at: T0 + 1_000 },
      { tenantId: t.tenantId, actor: "channel:telegram", action: "message.dead_lettered", ...session, metadata: { intent_id: 2 }, at: T0 + 2_000 },
      { tenantId: t.tenantId, actor: "scheduler", action: "job.run", target: "job:j1", metadata: { outcome: "ok" }, at: T0 + 3_000 },
      { tenantId: t.tenantId, actor: "router", action: "secret.used", target: "vault:p", metadata: { ref: "vault:p" }, at: T0 + 4_000 },
    ]);
  }
});

const actions = (rows: { action: string }[]) => rows.map((r) => r.action);

describe("GET /admin/audit filters", () => {
  it("action exact and prefix, actor, kind, since/until in ISO and epoch ms", async () => {
    const q = (s: string) => auditRows(adminA, s).then((r) => r.data);
    expect(actions(await q("action=message.sent"))).toEqual(["message.sent"]);
    expect(actions(await q("action=message."))).toEqual(["message.dead_lettered", "message.sent", "message.accepted"]);
    expect(actions(await q("action=message.*"))).toEqual(["message.dead_lettered", "message.sent", "message.accepted"]);
    expect(actions(await q("actor=scheduler"))).toEqual(["job.run"]);
    expect(actions(await q("actor=channel:telegram&action=message.dead_lettered"))).toEqual(["message.dead_lettered"]);
    const data = await q("kind=data");
    expect(data).toHaveLength(5);
    expect(data.every((r) => r.kind === "data" && r.event_id !== null && r.tenant_id === a.tenantId)).toBe(true);
    const adminRows = await q("kind=admin");
    expect(adminRows.length).toBeGreaterThan(0);
    expect(adminRows.every((r) => r.kind === "admin" && r.event_id === null)).toBe(true);
    expect(actions(await q(`kind=data&since=${T0 + 1_000}&until=${T0 + 3_000}`))).toEqual(["message.dead_lettered", "message.sent"]);
    expect(actions(await q(`kind=data&since=${encodeURIComponent(new Date(T0 + 3_000).toISOString())}`))).toEqual(["secret.used", "job.run"]);
    expect(actions(await q(`kind=data&until=2030-01-01T00:00:01Z`))).toEqual(["message.accepted"]);
    expect(actions(await q(`kind=data&since=2030-01-01`))).toHaveLength(5);
    // The subject filter combines with the others.
    expect(actions(await q(`subject=${encodeURIComponent("dm:9001")}&action=message.&since=${T0 + 1}`))).toEqual(["message.dead_lettered", "message.sent"]);
  });

  it("pages with before_id until next_before_id is null", async () => {
    const seen: string[] = [];
    let cursor: number | null = null;
    for (let page = 0; page < 5; page++) {
      const res: { data: { action: string; id: number }[]; next_before_id: number | null } = await auditRows(adminA, `kind=data&limit=2${cursor === null ? "" : `&before_id=${cursor}`}`);
      seen.push(...actions(res.data));
      if (res.data.length > 1) expect(res.data[0]!.id).toBeGreaterThan(res.data[1]!.id);
      cursor = res.next_before_id;
      if (cursor === null) break;
      expect(cursor).toBe(res.data[res.data.length - 1]!.id);
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual(["secret.used", "job.run", "message.dead_lettered", "message.sent", "message.accepted"]);
  });

  it("a tenant admin never reads another tenant's data-plane rows, whatever the filters", async () => {
    for (const q of ["kind=data", "action=message.", "actor=scheduler", `since=${T0}`, `before_id=${Number.MAX_SAFE_INTEGER}`, `subject=${encodeURIComponent("dm:9001")}`]) {
      const rows = (await auditRows(adminB, q)).data;
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.tenant_id === b.tenantId)).toBe(true);
      const other = await admin(adminB, "GET", `/audit?tenant_id=${a.tenantId}&${q}`);
      expect(other.status).toBe(403);
      expect(other.body.error.code).toBe("tenant_scope");
    }
    // The owner sees both tenants' (one tenant at a time, or all).
    const owner = await ownerToken();
    const both = (await auditRows(owner, `kind=data&since=${T0}&until=${T0 + 5_000}&limit=500`)).data.filter((r) => r.tenant_id === a.tenantId || r.tenant_id === b.tenantId);
    expect(both).toHaveLength(10);
  });

  it("subject matches its pseudonym literally: the '_' in sub_ is no LIKE wildcard", async () => {
    const pseudonym = await findPseudonym(database(env.DB), a.tenantId, "dm:9001");
    expect(pseudonym).toMatch(/^sub_/);
    // A row naming another string that only a wildcard '_' would match.
    const decoy = pseudonym!.replace("sub_", "subX");
    await env.DB.prepare("INSERT INTO audit_log (at, tenant_id, actor, action, target, metadata) VALUES (?, ?, 'test', 'decoy.like', ?, '{}')").bind(T0 + 500, a.tenantId, `session:${decoy}`).run();
    const q = (s: string) => auditRows(adminA, s).then((r) => r.data);
    expect(await q("action=decoy.like")).toHaveLength(1);
    expect(await q(`subject=${encodeURIComponent("dm:9001")}&action=decoy.like`)).toEqual([]);
    expect(actions(await q(`subject=${encodeURIComponent("dm:9001")}&action=message.sent`))).toEqual(["message.sent"]);
  });

  it("bad filter values are 400 JSON errors naming the parameter", async () => {
    const cases: [string, string][] = [
      ["action=Message.Sent", "action"],
      ["action=message*", "action"],
      ["action=" + "a".repeat(80), "action"],
      ["actor=" + encodeURIComponent("two words"), "actor"],
      ["actor=" + "x".repeat(300), "actor"],
      ["kind=other", "kind"],
      ["since=yesterday", "since"],
      ["until=2030-13-45T99:99:99Z", "until"],
      ["since=1e12", "since"],
      // A date-time needs its zone (workers/http/instant.ts); a bare date is midnight UTC.
      ["since=2030-01-01T00:00:00", "since"],
      ["until=2030-01-01T00:00", "until"],
      [`since=${T0 + 10}&until=${T0}`, "until"],
      ["before_id=0", "before_id"],
      ["before_id=abc", "before_id"],
      ["limit=501", "limit"],
      ["cursor=5", "cursor"],
    ];
    for (const [query, param] of cases) {
      const res = await admin(adminA, "GET", `/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code, query).toMatch(/^(invalid_value|unknown_parameter)$/);
      expect(res.body.error.param ?? res.body.error.message, query).toContain(param);
    }
  });
});
