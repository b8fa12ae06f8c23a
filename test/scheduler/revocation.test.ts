// A revoked tenant's jobs fire nothing (issue 10, item 4): at run time the shard finds the tenant
// is not live and records the run as skipped, with the reason, instead of calling the model,
// posting the webhook or queueing a reminder. Jobs cannot be created, resumed or triggered for a
// revoked or an unknown tenant. Beside it, a live tenant's identical jobs do fire (the fake
// upstream records the heartbeat's model call, the receiver gets the webhook), so the absence on
// the revoked side means something.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, makeTenant, token, type TestTenant } from "../gateway/helpers.ts";

type Run = { scheduled_at: string; state: string; detail: string | null; attempts: number };

async function jobsFor(t: TestTenant, tag: string): Promise<{ heartbeat: string; webhook: string; agent: string }> {
  const agent = expectStatus(await admin(t.owner, "POST", "/agents", { tenant_id: t.tenantId, name: "pulse", system_prompt: "Be brief.", model: "fake-echo" }), 201).body.id as string;
  // Due in 3 s: after the revocation below (a loaded machine included).
  const schedule = { kind: "once", delay_ms: 3_000 };
  const heartbeat = expectStatus(
    await admin(t.owner, "POST", "/jobs", {
      tenant_id: t.tenantId,
      schedule,
      action: { kind: "heartbeat", agent_id: agent, session_key: `${t.tenantId}/${agent}/telegram/acct/dm:1`, prompt: "Anything new?" },
      max_attempts: 1,
    }),
    201,
  ).body.id as string;
  const webhook = expectStatus(
    await admin(t.owner, "POST", "/jobs", {
      tenant_id: t.tenantId,
      schedule,
      action: { kind: "webhook", url: `${env.FAKE_TELEGRAM_URL}/callbacks/${tag}`, secret_ref: "WEBHOOK_TEST_SECRET" },
      max_attempts: 1,
    }),
    201,
  ).body.id as string;
  return { heartbeat, webhook, agent };
}

async function settledRuns(t: TestTenant, id: string): Promise<Run[]> {
  const res = await waitFor(() => admin(t.owner, "GET", `/jobs/${id}/runs`), (a) => a.body.data?.some((r: Run) => r.state !== "started" && r.state !== "failed"), 20_000);
  return res.body.data as Run[];
}

// The fake upstream's record of a model call by its x-request-id (the run's idempotency key).
function upstreamRecord(key: string): Promise<Response> {
  return fetch(`${env.FAKE_UPSTREAM_URL}/control/requests/${encodeURIComponent(key)}`);
}

async function callbacks(tag: string): Promise<unknown[]> {
  return (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${tag}`)).json();
}

describe("a revoked tenant's jobs", () => {
  it("are skipped at run time with the reason: no model call, no webhook; a live tenant's same jobs run", async () => {
    const live = await makeTenant();
    const doomed = await makeTenant();
    const [liveTag, doomedTag] = [crypto.randomUUID(), crypto.randomUUID()];
    const liveJobs = await jobsFor(live, liveTag);
    const doomedJobs = await jobsFor(doomed, doomedTag);
    expectStatus(await admin(doomed.owner, "POST", `/tenants/${doomed.tenantId}/revoke`), 200);

    // Live: the heartbeat called the model (its answer is not HEARTBEAT_OK, and the session has
    // no chat yet, so the run itself is dead; the call is what counts here) and the webhook went out.
    const liveHeartbeat = (await settledRuns(live, liveJobs.heartbeat))[0] as Run;
    expect((await upstreamRecord(`sched:${liveJobs.heartbeat}:${Date.parse(liveHeartbeat.scheduled_at)}`)).status).toBe(200);
    expect((await settledRuns(live, liveJobs.webhook))[0]?.state).toBe("ok");
    expect(await callbacks(liveTag)).toHaveLength(1);

    // Revoked: both runs skipped, with the reason, and nothing reached the upstream or the receiver.
    for (const id of [doomedJobs.heartbeat, doomedJobs.webhook]) {
      const [run] = await settledRuns(doomed, id);
      expect(run).toMatchObject({ state: "skipped", detail: "tenant revoked: nothing was run" });
    }
    const doomedHeartbeat = (await settledRuns(doomed, doomedJobs.heartbeat))[0] as Run;
    const record = await upstreamRecord(`sched:${doomedJobs.heartbeat}:${Date.parse(doomedHeartbeat.scheduled_at)}`);
    expect(record.status).toBe(404);
    expect(await callbacks(doomedTag)).toEqual([]);
  }, 60_000);

  it("cannot be created, resumed or triggered for a revoked or unknown tenant", async () => {
    const t = await makeTenant();
    const scoped = await token({ sub: "ops", role: "admin", tenant: t.tenantId });
    const job = { schedule: { kind: "interval", every_ms: 60_000 }, action: { kind: "record" } };
    const id = expectStatus(await admin(scoped, "POST", "/jobs", job), 201).body.id as string;
    expectStatus(await admin(scoped, "POST", `/jobs/${id}/pause`), 200);
    expectStatus(await admin(t.owner, "POST", `/tenants/${t.tenantId}/revoke`), 200);

    for (const [who, path, body] of [
      [t.owner, "/jobs", { ...job, tenant_id: t.tenantId }],
      [scoped, "/jobs", job],
      [t.owner, "/jobs/bulk", { tenant_id: t.tenantId, jobs: [job] }],
      [scoped, `/jobs/${id}/resume`, undefined],
      [scoped, `/jobs/${id}/trigger`, undefined],
    ] as const) {
      const res = await admin(who, "POST", path, body);
      expect(res.status, path).toBe(409);
      expect(res.body.error.code).toBe("tenant_revoked");
    }
    for (const path of ["/jobs", "/jobs/bulk"]) {
      const body = path === "/jobs" ? { ...job, tenant_id: "ten-does-not-exist" } : { tenant_id: "ten-does-not-exist", jobs: [job] };
      const res = await admin(t.owner, "POST", path, body);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("tenant_not_found");
    }
    // Nothing was created; the paused job can still be inspected and deleted (clean-up).
    expect((await admin(t.owner, "GET", `/jobs?tenant_id=${t.tenantId}`)).body.data.map((j: { id: string }) => j.id)).toEqual([id]);
    expectStatus(await admin(t.owner, "DELETE", `/jobs/${id}`), 200);
  }, 30_000);
});
