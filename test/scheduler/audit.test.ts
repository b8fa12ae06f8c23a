// /admin/jobs leaves an audit row for every write, even when the Worker never gets past the shard
// (issue 10, item 16): the row is the intent and is written before the shard is asked. The
// failure is made real: the shard's create (or setPaused) throws for this test's tenant only, as
// a Durable Object that is unreachable or dies mid-call would, and the request fails with 500.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { SchedulerShard } from "../../durable-objects/scheduler.ts";
import { admin, expectStatus, ownerToken, token } from "../gateway/helpers.ts";
import { liveTenant } from "./helpers.ts";

type AuditRow = { action: string; target: string; tenant_id: string; metadata: Record<string, unknown> };

async function auditOf(owner: string, tenant: string): Promise<AuditRow[]> {
  return (await admin(owner, "GET", `/audit?tenant_id=${tenant}&limit=100`)).body.data;
}

// Replaces a SchedulerShard method (on the class, so every shard's RPC sees it) while `body` runs.
async function withFailingShard<K extends "create" | "setPaused">(method: K, fails: (...args: Parameters<SchedulerShard[K]>) => boolean, body: () => Promise<void>): Promise<void> {
  const any = env.SCHEDULER.get(env.SCHEDULER.idFromName("shard:0"));
  const proto = await runInDurableObject(any, (instance) => Object.getPrototypeOf(instance) as Record<string, (...a: unknown[]) => unknown>);
  const original = proto[method] as (...a: unknown[]) => unknown;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    if (fails(...(args as Parameters<SchedulerShard[K]>))) throw new Error("shard unavailable (simulated)");
    return original.apply(this, args);
  };
  try {
    await body();
  } finally {
    proto[method] = original;
  }
}

describe("audit rows for /admin/jobs", () => {
  it("exist for every kind of job write, with the target and the manual run's time", async () => {
    const owner = await ownerToken();
    const tenant = await liveTenant(owner);
    const scoped = await token({ sub: "ops", role: "admin", tenant });
    const job = { schedule: { kind: "interval", every_ms: 60_000 }, action: { kind: "record" } };
    const id = expectStatus(await admin(scoped, "POST", "/jobs", job), 201).body.id as string;
    const bulk = expectStatus(await admin(scoped, "POST", "/jobs/bulk", { jobs: [job, job] }), 201).body;
    expectStatus(await admin(scoped, "POST", `/jobs/${id}/pause`), 200);
    expectStatus(await admin(scoped, "POST", `/jobs/${id}/resume`), 200);
    const triggered = expectStatus(await admin(scoped, "POST", `/jobs/${id}/trigger`), 202).body;
    expectStatus(await admin(scoped, "DELETE", `/jobs/${id}`), 200);
    const rows = await auditOf(owner, tenant);
    const of = (action: string) => rows.filter((r) => r.action === action);
    expect(of("job.create").map((r) => r.target)).toEqual([id]);
    expect(of("job.bulk_create")[0]?.metadata).toMatchObject({ count: 2, first: bulk.ids[0], last: bulk.ids[1] });
    for (const action of ["job.pause", "job.resume", "job.trigger", "job.delete"]) expect(of(action).map((r) => r.target), action).toEqual([id]);
    expect(of("job.trigger")[0]?.metadata.scheduled_at).toBe(Date.parse(triggered.scheduled_at));
    expect(rows.every((r) => r.tenant_id === tenant)).toBe(true);
  });

  it("exist even when the shard step of the write fails", async () => {
    const owner = await ownerToken();
    const tenant = await liveTenant(owner);
    const job = { tenant_id: tenant, schedule: { kind: "interval", every_ms: 60_000 }, action: { kind: "record" } };

    await withFailingShard("create", (jobs) => jobs.some((j) => j.tenantId === tenant), async () => {
      expect((await admin(owner, "POST", "/jobs", job)).status).toBe(500);
      expect((await admin(owner, "POST", "/jobs/bulk", { tenant_id: tenant, jobs: [job, job].map(({ tenant_id: _, ...j }) => j) })).status).toBe(500);
    });
    let rows = await auditOf(owner, tenant);
    expect(rows.filter((r) => r.action === "job.create")).toHaveLength(1);
    expect(rows.filter((r) => r.action === "job.bulk_create")).toHaveLength(1);
    expect((await admin(owner, "GET", `/jobs?tenant_id=${tenant}`)).body.data).toEqual([]);

    const id = expectStatus(await admin(owner, "POST", "/jobs", job), 201).body.id as string;
    await withFailingShard("setPaused", (jobId) => jobId === id, async () => {
      expect((await admin(owner, "POST", `/jobs/${id}/pause`)).status).toBe(500);
    });
    rows = await auditOf(owner, tenant);
    expect(rows.filter((r) => r.action === "job.pause").map((r) => r.target)).toEqual([id]);
    // The intent is on record; the shard never applied it, and a retry does.
    expect((await admin(owner, "GET", `/jobs/${id}`)).body.state).toBe("active");
    expect(expectStatus(await admin(owner, "POST", `/jobs/${id}/pause`), 200).body.state).toBe("paused");
  });
});
