// /admin/jobs: scheduler jobs per tenant (docs/scheduler.md). A job lives in the scheduler shard
// its id hashes to, which is the one writer of its state and next fire time; listing fans out to
// every shard (N RPCs in parallel, each an indexed read) rather than keeping a D1 copy that every
// run would have to update.
//   POST   /jobs                 create one               POST /jobs/bulk   create up to 1,000
//   GET    /jobs                 list (next fire time)    GET  /jobs/:id
//   POST   /jobs/:id/pause | /resume | /trigger           DELETE /jobs/:id
//   GET    /jobs/:id/runs        run history (scheduled, fired, lag, outcome)
//   GET    /jobs/record-stats    what a tenant's `record` jobs did (benchmark)
// Every write records its audit row first (the intent), then asks the shard, whose writes are
// idempotent: if the Worker dies between the two, the write is on record and a retry is safe.
// Jobs are created only for a live tenant, and a webhook URL must pass the outbound-URL policy.
import { Hono, type Context } from "hono";
import { z } from "zod";
import type { JobView, NewJob, RecordStats, SchedulerShard } from "../../durable-objects/scheduler.ts";
import { bulkCreateJobsBody, createJobBody, jobListQuery, type JobDefinition } from "../../schema/scheduler.ts";
import { database } from "../db.ts";
import type { AppEnv, Env } from "../env.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { schedulerSettings, shardOf } from "../scheduler/timing.ts";
import { assertOutboundUrl } from "../security/outbound-url.ts";
import { tenantForRead, tenantForWrite } from "./access.ts";
import { auditIntent } from "./audit.ts";
import { assertMayReference } from "./secret-refs.ts";
import { iso, newId } from "./ids.ts";
import { adminBody } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";
import { objectNamed } from "../regions/objects.ts";

export const jobRoutes = new Hono<AppEnv>();

// A bulk body holds up to 1,000 small job definitions.
const MAX_BULK_BODY = 1024 * 1024;

function shardStub(env: Env, index: number): DurableObjectStub<SchedulerShard> {
  return objectNamed(env, env.SCHEDULER, `shard:${index}`);
}

function jobStub(env: Env, id: string): DurableObjectStub<SchedulerShard> {
  return shardStub(env, shardOf(id, schedulerSettings(env).shards));
}

function present(job: JobView) {
  return { ...job, next_at: iso(job.next_at), created_at: iso(job.created_at), updated_at: iso(job.updated_at) };
}

function jobId(c: Context<AppEnv>): string {
  const id = c.req.param("id") ?? "";
  if (!/^job_[0-9a-f]{24}$/.test(id)) throw new ApiError(404, "not_found", "No such job.");
  return id;
}

// The tenant an id-addressed call is limited to: the token's own (scoped tokens), or none.
function scopeOf(c: Context<AppEnv>, write: boolean): string | undefined {
  const claims = c.get("admin");
  if (write && claims.role === "viewer") throw new ApiError(403, "read_only", "A viewer token is read-only.");
  return claims.tenant;
}

// Written before the shard is asked (see the header).
async function audit(c: Context<AppEnv>, tenantId: string, action: string, target: string, metadata: Record<string, unknown> = {}): Promise<void> {
  await auditIntent(database(c.env.DB), c.get("admin"), { tenantId, action, target, metadata });
}

// Where a job's action would reach out to a URL, it must pass the outbound-URL policy (400
// url_not_allowed naming the field); the shard checks again before each fetch.
function checkJobUrls(env: Env, def: JobDefinition, param: string): void {
  if (def.action.kind === "webhook") assertOutboundUrl(env, def.action.url, `${param}url`);
}

// The job an id-addressed write targets, within the token's scope (404 otherwise).
async function jobForWrite(c: Context<AppEnv>, id: string): Promise<{ job: JobView; scope: string | undefined }> {
  const scope = scopeOf(c, true);
  const job = await jobStub(c.env, id).get(id, scope);
  if (!job) throw new ApiError(404, "not_found", "No such job.");
  return { job, scope };
}

jobRoutes.post("/", async (c) => {
  const body = await adminBody(c, createJobBody);
  const tenantId = tenantForWrite(c.get("admin"), body.tenant_id);
  if (body.action.kind === "webhook") assertMayReference(c.get("admin"), body.action.secret_ref, "action.secret_ref");
  const { tenant_id: _t, ...def } = body;
  checkJobUrls(c.env, def, "action.");
  await requireLiveTenant(database(c.env.DB), tenantId);
  const id = newId("job", c.env);
  await audit(c, tenantId, "job.create", id, { schedule: def.schedule.kind, action: def.action.kind });
  await jobStub(c.env, id).create([{ id, tenantId, def }]);
  const job = (await jobStub(c.env, id).get(id)) as JobView;
  return c.json(present(job), 201);
});

jobRoutes.post("/bulk", async (c) => {
  const body = parseOr400(bulkCreateJobsBody, await readJsonBody(c, MAX_BULK_BODY));
  const tenantId = tenantForWrite(c.get("admin"), body.tenant_id);
  for (const def of body.jobs) if (def.action.kind === "webhook") assertMayReference(c.get("admin"), def.action.secret_ref, "jobs[].action.secret_ref");
  body.jobs.forEach((def, i) => checkJobUrls(c.env, def, `jobs[${i}].action.`));
  await requireLiveTenant(database(c.env.DB), tenantId);
  const shards = schedulerSettings(c.env).shards;
  const byShard = new Map<number, NewJob[]>();
  const ids: string[] = [];
  for (const def of body.jobs) {
    const id = newId("job", c.env);
    ids.push(id);
    const shard = shardOf(id, shards);
    const list = byShard.get(shard) ?? [];
    list.push({ id, tenantId, def });
    byShard.set(shard, list);
  }
  await audit(c, tenantId, "job.bulk_create", `${ids.length} jobs`, { count: ids.length, first: ids[0], last: ids[ids.length - 1] });
  await Promise.all([...byShard].map(([shard, jobs]) => shardStub(c.env, shard).create(jobs)));
  return c.json({ created: ids.length, ids }, 201);
});

jobRoutes.get("/", async (c) => {
  const q = parseOr400(jobListQuery, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  const limit = q.limit ?? 100;
  const shards = schedulerSettings(c.env).shards;
  const pages = await Promise.all(Array.from({ length: shards }, (_, i) => shardStub(c.env, i).list(tenantId, q.after ?? "", limit)));
  const data = pages.flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, limit);
  return c.json({ data: data.map(present), next_after: data.length === limit ? (data[data.length - 1] as JobView).id : null });
});

export const statsQuery = z.strictObject({ tenant_id: z.string().min(1).max(64).optional(), lags: z.enum(["0", "1"]).optional() });

jobRoutes.get("/record-stats", async (c) => {
  const q = parseOr400(statsQuery, c.req.query());
  const tenantId = tenantForRead(c.get("admin"), q.tenant_id);
  if (tenantId === undefined) throw new ApiError(400, "invalid_value", "tenant_id: required with a token of every tenant.");
  const shards = schedulerSettings(c.env).shards;
  const all = await Promise.all(Array.from({ length: shards }, (_, i) => shardStub(c.env, i).recordStats(tenantId, q.lags === "1")));
  const total: RecordStats = { effects: 0, runs: 0, duplicated: 0, pending: 0 };
  const lags: number[] = [];
  for (const s of all) {
    total.effects += s.effects;
    total.runs += s.runs;
    total.duplicated += s.duplicated;
    total.pending += s.pending;
    if (s.lags) for (const l of s.lags) lags.push(l);
  }
  return c.json(q.lags === "1" ? { ...total, lags } : total);
});

jobRoutes.get("/:id", async (c) => {
  const id = jobId(c);
  const job = await jobStub(c.env, id).get(id, scopeOf(c, false));
  if (!job) throw new ApiError(404, "not_found", "No such job.");
  return c.json(present(job));
});

for (const action of ["pause", "resume"] as const) {
  jobRoutes.post(`/:id/${action}`, async (c) => {
    const id = jobId(c);
    const { job: before, scope } = await jobForWrite(c, id);
    // Pausing stays possible for a revoked tenant (to clean up); resuming needs a live one.
    if (action === "resume") await requireLiveTenant(database(c.env.DB), before.tenant_id);
    await audit(c, before.tenant_id, `job.${action}`, id);
    const job = await jobStub(c.env, id).setPaused(id, scope, action === "pause");
    if (!job) throw new ApiError(404, "not_found", "No such job.");
    return c.json(present(job));
  });
}

jobRoutes.post("/:id/trigger", async (c) => {
  const id = jobId(c);
  const { job, scope } = await jobForWrite(c, id);
  await requireLiveTenant(database(c.env.DB), job.tenant_id);
  // The manual run's time is chosen here, so the audit row names it and a repeated call to the
  // shard finds the same run.
  const requestedAt = Date.now();
  await audit(c, job.tenant_id, "job.trigger", id, { scheduled_at: requestedAt });
  const run = await jobStub(c.env, id).trigger(id, scope, requestedAt);
  if (!run) throw new ApiError(404, "not_found", "No such job.");
  return c.json({ id, scheduled_at: iso(run.scheduled_at) }, 202);
});

jobRoutes.delete("/:id", async (c) => {
  const id = jobId(c);
  const { job, scope } = await jobForWrite(c, id);
  await audit(c, job.tenant_id, "job.delete", id);
  if (!(await jobStub(c.env, id).remove(id, scope))) throw new ApiError(404, "not_found", "No such job.");
  return c.json({ id, deleted: true });
});

export const runsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).optional() });

jobRoutes.get("/:id/runs", async (c) => {
  const id = jobId(c);
  const q = parseOr400(runsQuery, c.req.query());
  const runs = await jobStub(c.env, id).runs(id, scopeOf(c, false), q.limit ?? 100);
  if (!runs) throw new ApiError(404, "not_found", "No such job.");
  return c.json({
    data: runs.map((r) => ({ ...r, scheduled_at: iso(r.scheduled_at), fired_at: iso(r.fired_at), finished_at: iso(r.finished_at) })),
  });
});
