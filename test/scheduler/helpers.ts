// Helpers for the scheduler tests: a shard of a test's own, its run rows, tenants made through the
// admin API (shards run only live tenants' jobs), and what the tarpit (test/fakes/tarpit.ts) holds.
import { env, runInDurableObject } from "cloudflare:test";
import type { NewJob, SchedulerShard } from "../../durable-objects/scheduler.ts";
import { jobDefinition } from "../../schema/scheduler.ts";
import { newId } from "../../workers/admin/ids.ts";
import { admin, expectStatus, uid } from "../gateway/helpers.ts";

export interface RunRow {
  job_id: string;
  state: string;
  fired_at: number | null;
  finished_at: number | null;
  scheduled_at: number;
  attempts: number;
  detail: string | null;
}

export interface TarpitList {
  requests: { path: string; idempotency_key: string | null; request_id: string | null }[];
  open: number;
}

// The shard's private parts a test reaches into.
export interface ShardInternals {
  sql: SqlStorage;
  ctx: DurableObjectState;
  inflight: { size: number; clear(): void };
}

// A shard of its own per test, so other tests' jobs never mix in.
export function testShard(): DurableObjectStub<SchedulerShard> {
  return env.SCHEDULER.get(env.SCHEDULER.idFromName(`test:${crypto.randomUUID()}`));
}

export function newJob(tenantId: string, raw: Record<string, unknown>): NewJob {
  return { id: newId("job", {}), tenantId, def: jobDefinition.parse(raw) };
}

export function allRuns(stub: DurableObjectStub<SchedulerShard>): Promise<RunRow[]> {
  return runInDurableObject(stub, (instance) =>
    (instance as unknown as ShardInternals).sql
      .exec<RunRow & Record<string, SqlStorageValue>>("SELECT job_id, state, fired_at, finished_at, scheduled_at, attempts, detail FROM runs")
      .toArray(),
  );
}

export async function tarpit(prefix: string): Promise<TarpitList> {
  return (await fetch(`${env.FAKE_TARPIT_URL}/control/requests?prefix=${encodeURIComponent(prefix)}`)).json();
}

export async function liveTenant(owner: string): Promise<string> {
  const id = uid("ten-sched");
  expectStatus(await admin(owner, "POST", "/tenants", { id, name: id }), 201);
  return id;
}
