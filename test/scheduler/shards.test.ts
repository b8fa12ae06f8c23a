// Scheduler shards for real (workerd, DO SQLite, alarms): exactly-once under a duplicated alarm
// and a crash mid-batch, the missed-run policies after an outage, a poison job, and the admin API
// (create, bulk, list, pause/resume, trigger, delete, run history, tenant scope).
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { NewJob, SchedulerShard } from "../../durable-objects/scheduler.ts";
import { jobDefinition } from "../../schema/scheduler.ts";
import { newId } from "../../workers/admin/ids.ts";
import { bucketOf, schedulerSettings, shardName, tickPhase } from "../../workers/scheduler/timing.ts";
import { admin, expectStatus, makeTenant, ownerToken, token } from "../gateway/helpers.ts";
import { waitFor } from "../channels/helpers.ts";
import { testShard } from "./helpers.ts";

function jobs(n: number, raw: Record<string, unknown>, tenantId = "ten-shard-test"): NewJob[] {
  return Array.from({ length: n }, () => ({ id: newId("job", {}), tenantId, def: jobDefinition.parse(raw) }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Shards run only the jobs of live tenants: the tenant these shard-level tests use exists.
beforeAll(async () => {
  const res = await admin(await ownerToken(), "POST", "/tenants", { id: "ten-shard-test", name: "Shard tests" });
  if (res.status !== 201 && res.status !== 409) expectStatus(res, 201);
});

// The shard's private parts a test reaches into.
interface Shard {
  fire: (...a: unknown[]) => unknown;
  sql: SqlStorage;
  ctx: DurableObjectState;
}

async function effectCounts(stub: DurableObjectStub<SchedulerShard>): Promise<Map<string, number>> {
  return runInDurableObject(stub, (instance) => {
    const rows = (instance as unknown as Shard).sql.exec<{ job_id: string; n: number }>("SELECT job_id, COUNT(*) AS n FROM effects GROUP BY job_id").toArray();
    return new Map(rows.map((r) => [r.job_id, r.n]));
  });
}

describe("exactly once", () => {
  it("a duplicated alarm makes no second effect", async () => {
    const stub = testShard();
    const batch = jobs(30, { schedule: { kind: "once", delay_ms: 0 }, action: { kind: "record" } });
    await stub.create(batch);
    // Due now: their bucket is the next tick boundary.
    await sleep(150);
    await runInDurableObject(stub, async (instance) => {
      // Two deliveries of the same alarm at once, then a third after them.
      await Promise.all([instance.alarm(), instance.alarm()]);
      await instance.alarm();
    });
    await runDurableObjectAlarm(stub);
    const counts = await effectCounts(stub);
    expect(counts.size).toBe(30);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    const stats = await stub.recordStats("ten-shard-test", false);
    expect(stats).toMatchObject({ effects: 30, runs: 30, duplicated: 0, pending: 0 });
  });

  it("a crash in the middle of a batch neither loses nor repeats a run", async () => {
    const stub = testShard();
    const batch = jobs(10, { schedule: { kind: "once", delay_ms: 0 }, action: { kind: "record" } });
    await runInDurableObject(stub, async (instance) => {
      const shard = instance as unknown as Shard;
      const original = shard.fire;
      let calls = 0;
      // The third job of the batch: the isolate dies before it is handled.
      shard.fire = function (this: unknown, ...args: unknown[]) {
        if (++calls === 3) throw new Error("simulated crash");
        return original.apply(this, args);
      };
      await instance.create(batch);
      // This test delivers the alarm itself.
      await shard.ctx.storage.deleteAlarm();
      await sleep(150);
      await expect(instance.alarm()).rejects.toThrow("simulated crash");
      const after = shard.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM effects").one().n;
      expect(after).toBe(2);
      shard.fire = original;
      // The runtime retries the alarm (and may deliver it once more).
      await instance.alarm();
      await instance.alarm();
    });
    const counts = await effectCounts(stub);
    expect(counts.size).toBe(10);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});

describe("tick phases", () => {
  // Each of the SCHEDULER_SHARDS shards wakes on its own offset of the tick, so the shards do not
  // all wake (and queue behind each other on a shared host) at the same instant.
  it("a shard puts its jobs, and its alarm, on its own phase of the tick; never before the due time", async () => {
    const { shards, tickMs } = schedulerSettings(env);
    const index = shards - 1;
    const phase = tickPhase(index, shards, tickMs);
    expect(phase).toBeGreaterThan(0);
    const named = env.SCHEDULER.get(env.SCHEDULER.idFromName(shardName(index)));
    const unnamed = testShard();
    // One millisecond after a tick multiple, an hour from now: far from anything else on the shard.
    const at = Math.ceil((Date.now() + 3_600_000) / tickMs) * tickMs + 1;
    const read = (stub: DurableObjectStub<SchedulerShard>, id: string) =>
      runInDurableObject(stub, async (instance) => {
        const shard = instance as unknown as Shard;
        const bucket = shard.sql.exec<{ bucket: number }>("SELECT bucket FROM wheel WHERE job_id = ?", id).one().bucket;
        return { bucket, alarm: await shard.ctx.storage.getAlarm() };
      });
    const [a] = jobs(1, { schedule: { kind: "once", at }, action: { kind: "record" } });
    const [b] = jobs(1, { schedule: { kind: "once", at }, action: { kind: "record" } });
    await named.create([a as NewJob]);
    await unnamed.create([b as NewJob]);
    try {
      const onPhase = await read(named, (a as NewJob).id);
      expect(onPhase.bucket).toBe(bucketOf(at, tickMs, phase));
      expect(((onPhase.bucket % tickMs) + tickMs) % tickMs).toBe(phase);
      expect(onPhase.bucket - at).toBeGreaterThanOrEqual(0);
      expect(onPhase.bucket - at).toBeLessThan(tickMs);
      expect(onPhase.alarm).not.toBeNull();
      expect((onPhase.alarm as number) <= onPhase.bucket).toBe(true);
      // An object that is none of the shards (a test's own) keeps the tick multiples.
      const plain = await read(unnamed, (b as NewJob).id);
      expect(plain.bucket).toBe(at - 1 + tickMs);
      expect(plain.alarm).toBe(plain.bucket);
    } finally {
      await named.remove((a as NewJob).id, undefined);
    }
  });
});

describe("missed runs after an outage", () => {
  it("applies once, all (bounded) and skip to occurrences that fell due while nothing ran", async () => {
    const stub = testShard();
    const every = 1_000;
    const [once, all, skip] = [
      ...jobs(1, { schedule: { kind: "interval", every_ms: every }, action: { kind: "record" }, missed: "once" }),
      ...jobs(1, { schedule: { kind: "interval", every_ms: every }, action: { kind: "record" }, missed: "all" }),
      ...jobs(1, { schedule: { kind: "interval", every_ms: every }, action: { kind: "record" }, missed: "skip" }),
    ] as [NewJob, NewJob, NewJob];
    await stub.create([once, all, skip]);
    const outageStart = await runInDurableObject(stub, async (instance) => {
      const shard = instance as unknown as Shard;
      // As if the shard had been down for 150 s: the jobs were created 150.5 s ago and nothing
      // ran since (their first occurrence is still on the wheel).
      await shard.ctx.storage.deleteAlarm();
      const created = Date.now() - 150_500;
      shard.sql.exec("UPDATE jobs SET created_at = ?", created);
      shard.sql.exec("UPDATE wheel SET scheduled_at = ?, bucket = ?", created + every, created + every);
      await instance.alarm();
      return created;
    });
    const counts = await effectCounts(stub);
    expect(counts.get(once.id)).toBe(1);
    expect(counts.get(all.id)).toBe(100);
    expect(counts.get(skip.id)).toBeUndefined();
    const skipRuns = (await stub.runs(skip.id, undefined, 10)) ?? [];
    expect(skipRuns[0]).toMatchObject({ state: "skipped" });
    expect(skipRuns[0]?.detail).toMatch(/^15\d missed occurrence\(s\) skipped \(policy skip\)$/);
    const onceRuns = (await stub.runs(once.id, undefined, 10)) ?? [];
    expect(onceRuns.find((r) => r.state === "ok")?.scheduled_at).toBeGreaterThan(outageStart + 140_000);
    for (const j of [once, all, skip]) {
      const view = await stub.get(j.id);
      expect(view?.next_at).toBeGreaterThan(Date.now() - 2_000);
    }
  });
});

describe("a poison job", () => {
  it("is retried with backoff, then dead-lettered, and never holds up the others", async () => {
    const stub = testShard();
    const good = jobs(5, { schedule: { kind: "once", delay_ms: 0 }, action: { kind: "record" } });
    const [unreachable] = jobs(1, {
      schedule: { kind: "once", delay_ms: 0 },
      action: { kind: "webhook", url: "http://127.0.0.1:9/hook", secret_ref: "WEBHOOK_TEST_SECRET" },
      max_attempts: 3,
    });
    const [noSecret] = jobs(1, { schedule: { kind: "once", delay_ms: 0 }, action: { kind: "webhook", url: "http://127.0.0.1:9/x", secret_ref: "WEBHOOK_MISSING" } });
    const [corrupt] = jobs(1, { schedule: { kind: "once", delay_ms: 0 }, action: { kind: "record" } });
    await stub.create([unreachable as NewJob, noSecret as NewJob, corrupt as NewJob, ...good]);
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as Shard).sql.exec("UPDATE jobs SET def = '{not json' WHERE id = ?", (corrupt as NewJob).id);
    });
    const runsOf = (id: string) => stub.runs(id, undefined, 10).then((r) => r ?? []);
    const dead = await waitFor(() => runsOf((unreachable as NewJob).id), (r) => r[0]?.state === "dead", 20_000);
    expect(dead[0]?.attempts).toBe(3);
    expect((await runsOf((noSecret as NewJob).id))[0]).toMatchObject({ state: "dead", attempts: 1 });
    expect((await runsOf((corrupt as NewJob).id))[0]).toMatchObject({ state: "dead" });
    expect((await stub.get((corrupt as NewJob).id))?.state).toBe("done");
    const counts = await effectCounts(stub);
    for (const g of good) expect(counts.get(g.id)).toBe(1);
  });
});

describe("admin API", () => {
  it("creates, lists with the next fire time, pauses, resumes, triggers and deletes", async () => {
    const t = await makeTenant();
    const scoped = await token({ sub: "ops", role: "admin", tenant: t.tenantId });
    const created = expectStatus(
      await admin(scoped, "POST", "/jobs", { name: "tick", schedule: { kind: "interval", every_ms: 1_000 }, action: { kind: "record" }, missed: "skip" }),
      201,
    ).body;
    expect(created).toMatchObject({ tenant_id: t.tenantId, state: "active", name: "tick" });
    expect(Date.parse(created.next_at)).toBeGreaterThan(Date.now() - 1_500);
    const id = created.id as string;

    const listed = expectStatus(await admin(scoped, "GET", "/jobs"), 200).body;
    expect(listed.data.map((j: { id: string }) => j.id)).toEqual([id]);
    expect(listed.data[0].next_at).toEqual(expect.any(String));

    const ran = await waitFor(() => admin(scoped, "GET", `/jobs/${id}/runs`), (a) => a.body.data?.length >= 2, 10_000);
    expect(ran.body.data[0]).toMatchObject({ state: "ok", attempts: 1, manual: false });
    expect(ran.body.data[0].lag_ms).toBeGreaterThanOrEqual(0);

    const paused = expectStatus(await admin(scoped, "POST", `/jobs/${id}/pause`), 200).body;
    expect(paused).toMatchObject({ state: "paused", next_at: null });
    const countAtPause = (await admin(scoped, "GET", `/jobs/${id}/runs`)).body.data.length;
    await new Promise((r) => setTimeout(r, 2_200));
    expect((await admin(scoped, "GET", `/jobs/${id}/runs`)).body.data.length).toBeLessThanOrEqual(countAtPause + 1);
    const settled = (await admin(scoped, "GET", `/jobs/${id}/runs`)).body.data.length;

    const triggered = expectStatus(await admin(scoped, "POST", `/jobs/${id}/trigger`), 202).body;
    const manual = await waitFor(() => admin(scoped, "GET", `/jobs/${id}/runs`), (a) => a.body.data.some((r: { manual: boolean }) => r.manual), 5_000);
    expect(manual.body.data.find((r: { manual: boolean }) => r.manual)).toMatchObject({ state: "ok", scheduled_at: triggered.scheduled_at });
    expect(manual.body.data.length).toBe(settled + 1);

    const resumed = expectStatus(await admin(scoped, "POST", `/jobs/${id}/resume`), 200).body;
    expect(resumed.state).toBe("active");
    expect(Date.parse(resumed.next_at)).toBeGreaterThan(Date.now() - 1_000);
    await waitFor(() => admin(scoped, "GET", `/jobs/${id}/runs`), (a) => a.body.data.length >= settled + 2, 5_000);

    // Another tenant's token sees nothing; a viewer may not write; audit rows were written.
    const other = await makeTenant();
    const otherToken = await token({ sub: "ops", role: "admin", tenant: other.tenantId });
    expect((await admin(otherToken, "GET", `/jobs/${id}`)).status).toBe(404);
    expect((await admin(otherToken, "POST", `/jobs/${id}/pause`)).status).toBe(404);
    expect((await admin(otherToken, "GET", "/jobs")).body.data).toEqual([]);
    const viewer = await token({ sub: "v", role: "viewer", tenant: t.tenantId });
    expect((await admin(viewer, "DELETE", `/jobs/${id}`)).status).toBe(403);
    const bad = await admin(scoped, "POST", "/jobs", { schedule: { kind: "cron", expr: "* * *" }, action: { kind: "record" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("invalid_value");

    expectStatus(await admin(scoped, "DELETE", `/jobs/${id}`), 200);
    expect((await admin(scoped, "GET", `/jobs/${id}`)).status).toBe(404);
    const audit = (await admin(scoped, "GET", "/audit")).body.data.map((a: { action: string }) => a.action);
    expect(audit).toEqual(expect.arrayContaining(["job.create", "job.pause", "job.trigger", "job.resume", "job.delete"]));
  }, 60_000);

  it("bulk-creates over the shards and every job fires once", async () => {
    const t = await makeTenant();
    const body = { tenant_id: t.tenantId, jobs: Array.from({ length: 60 }, () => ({ schedule: { kind: "once", delay_ms: 300 }, action: { kind: "record" } })) };
    const res = expectStatus(await admin(t.owner, "POST", "/jobs/bulk", body), 201).body;
    expect(res.created).toBe(60);
    const listed = (await admin(t.owner, "GET", `/jobs?tenant_id=${t.tenantId}&limit=500`)).body.data;
    expect(listed).toHaveLength(60);
    const stats = await waitFor(() => admin(t.owner, "GET", `/jobs/record-stats?tenant_id=${t.tenantId}&lags=1`), (a) => a.body.runs === 60, 10_000);
    expect(stats.body).toMatchObject({ effects: 60, runs: 60, duplicated: 0, pending: 0 });
    expect(stats.body.lags.every((l: number) => l >= 0)).toBe(true);
  }, 30_000);

  it("sends a signed webhook with an idempotency key", async () => {
    const t = await makeTenant();
    const name = `sched-${crypto.randomUUID()}`;
    const res = await admin(t.owner, "POST", "/jobs", {
      tenant_id: t.tenantId,
      schedule: { kind: "once", delay_ms: 0 },
      action: { kind: "webhook", url: `${env.FAKE_TELEGRAM_URL}/callbacks/${name}`, secret_ref: "WEBHOOK_TEST_SECRET", body: { hello: "world" } },
    });
    expectStatus(res, 201);
    const got = await waitFor(
      async () => (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${name}`)).json() as Promise<{ body: any; idempotency_key: string }[]>,
      (l) => l.length > 0,
    );
    expect(got).toHaveLength(1);
    expect(got[0]?.body).toMatchObject({ job_id: res.body.id, data: { hello: "world" }, attempt: 1 });
    expect(got[0]?.idempotency_key).toBe(`sched:${res.body.id}:${Date.parse(got[0]?.body.scheduled_at)}`);
    expect(JSON.stringify(res.body)).not.toContain("test-webhook-secret");
  });
});
