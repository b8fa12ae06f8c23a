// One tenant's hanging endpoint must not delay anyone else's jobs (issue 10, item 5). A tenant
// points 100 jobs at a tarpit (test/fakes/tarpit.ts: accepts, never answers): half webhooks, half
// heartbeats whose provider is the tarpit with a 600 s provider timeout. Two other tenants' jobs
// (signed webhooks to a fast receiver, and `record` jobs) fall due on the same shard right after.
// Their lag (fired - scheduled, from the shard's run records) must stay under 1 s at p99; the slow
// tenant never has more effects in flight than its per-tenant limit, and each of its effects ends
// at the deployment's action deadline (SCHEDULER_ACTION_TIMEOUT_MS, 2 s in vitest.config.ts).
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { NewJob } from "../../durable-objects/scheduler.ts";
import { schedulerSettings } from "../../workers/scheduler/timing.ts";
import { waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, ownerToken } from "../gateway/helpers.ts";
import { allRuns, liveTenant, newJob, tarpit, testShard, type RunRow } from "./helpers.ts";

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

// The most runs whose [fired, finished) intervals overlap at one instant.
function maxOverlap(runs: RunRow[]): number {
  const edges: [number, number][] = [];
  for (const r of runs) {
    if (r.fired_at === null) continue;
    edges.push([r.fired_at, 1]);
    edges.push([r.finished_at ?? Number.MAX_SAFE_INTEGER, -1]);
  }
  // Ends before starts at the same instant: a slot freed and taken again is not an overlap.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (now += d));
  return max;
}

describe("a tenant's hanging actions", () => {
  it("leave other tenants' jobs on the same shard under 1 s of lag (p99), within the per-tenant limit and the action deadline", async () => {
    const owner = await ownerToken();
    const slow = await liveTenant(owner);
    const victims = [await liveTenant(owner), await liveTenant(owner)];
    // The slow tenant's model: a provider at the tarpit, with the longest timeout a tenant may set.
    const provider = expectStatus(
      await admin(owner, "POST", "/providers", {
        tenant_id: slow,
        name: "tarpit",
        kind: "openai-compatible",
        base_url: `${env.FAKE_TARPIT_URL}/v1`,
        credential_ref: "PROVIDER_FAKE_KEY",
        timeout_ms: 600_000,
      }),
      201,
    ).body;
    expectStatus(await admin(owner, "POST", "/models", { tenant_id: slow, public_name: "slow-model", provider_id: provider.id, upstream_model: "slow-model" }), 201);
    const agent = expectStatus(await admin(owner, "POST", "/agents", { tenant_id: slow, name: "slowpoke", system_prompt: "", model: "slow-model" }), 201).body;

    const tag = crypto.randomUUID();
    const now = Date.now();
    const job = newJob;
    // 100 hanging jobs, due now, one try each (the deadline ends each; no retries to wait for).
    const hanging = Array.from({ length: 100 }, (_, i) =>
      job(
        slow,
        i % 2 === 0
          ? { schedule: { kind: "once", at: now }, action: { kind: "webhook", url: `${env.FAKE_TARPIT_URL}/hook/${tag}/${i}`, secret_ref: "WEBHOOK_TEST_SECRET" }, max_attempts: 1 }
          : { schedule: { kind: "once", at: now }, action: { kind: "heartbeat", agent_id: agent.id, session_key: `${slow}/${agent.id}/telegram/acct/dm:${i}` }, max_attempts: 1 },
      ),
    );
    // 80 jobs of two other tenants, due over the next 4 s: signed webhooks to a receiver that
    // answers at once, and record jobs (about 5 webhooks a second per tenant: well inside a
    // tenant's own in-flight limit even when a loaded machine slows the receiver down).
    const others = victims.flatMap((tenantId, v) =>
      Array.from({ length: 40 }, (_, i) =>
        job(tenantId, {
          schedule: { kind: "once", at: now + 300 + i * 100 },
          action: i % 2 === 0 ? { kind: "webhook", url: `${env.FAKE_TELEGRAM_URL}/callbacks/${tag}-${v}-${i}`, secret_ref: "WEBHOOK_TEST_SECRET" } : { kind: "record" },
        }),
      ),
    );
    const stub = testShard();
    await stub.create([...hanging, ...others]);

    const otherIds = new Set(others.map((j) => j.id));
    const settled = await waitFor(
      () => allRuns(stub),
      (runs) => runs.filter((r) => otherIds.has(r.job_id) && r.state === "ok").length === others.length,
      30_000,
    );
    const otherRuns = settled.filter((r) => otherIds.has(r.job_id));
    expect(otherRuns.filter((r) => r.state === "ok")).toHaveLength(others.length);
    const lags = otherRuns.map((r) => (r.fired_at as number) - r.scheduled_at).sort((a, b) => a - b);
    const kindOf = new Map(others.map((j) => [j.id, j.def.action.kind]));
    const worst = [...otherRuns].sort((a, b) => (b.fired_at as number) - b.scheduled_at - ((a.fired_at as number) - a.scheduled_at)).slice(0, 3);
    console.log(
      `[fairness] other tenants' lag over ${lags.length} runs: p50 ${pct(lags, 50)} ms, p99 ${pct(lags, 99)} ms, max ${lags[lags.length - 1]} ms; worst: ${worst.map((r) => `${kindOf.get(r.job_id)} ${(r.fired_at as number) - r.scheduled_at} ms`).join(", ")}`,
    );
    expect(pct(lags, 99)).toBeLessThan(1_000);
    // Each victim webhook arrived once.
    for (const [v] of victims.entries()) {
      const got = (await (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${tag}-${v}-0`)).json()) as unknown[];
      expect(got).toHaveLength(1);
    }

    // The slow tenant: both kinds reached the tarpit and ended at the deadline, never more at
    // once than its per-tenant limit.
    const hangingIds = new Set(hanging.map((j) => j.id));
    const limit = schedulerSettings(env).maxInflightPerTenant;
    const timeoutMs = schedulerSettings(env).actionTimeoutMs;
    const ended = await waitFor(
      () => allRuns(stub),
      (runs) => {
        const dead = runs.filter((r) => hangingIds.has(r.job_id) && r.state === "dead");
        const kinds = new Set(dead.map((r) => (hanging.find((j) => j.id === r.job_id) as NewJob).def.action.kind));
        return kinds.has("webhook") && kinds.has("heartbeat");
      },
      30_000,
    );
    const slowRuns = ended.filter((r) => hangingIds.has(r.job_id));
    const dead = slowRuns.filter((r) => r.state === "dead");
    expect(new Set(dead.map((r) => (hanging.find((j) => j.id === r.job_id) as NewJob).def.action.kind))).toEqual(new Set(["webhook", "heartbeat"]));
    for (const r of dead) {
      // The shard's deadline ended it, or (a heartbeat) the router's first-byte wait, which the
      // model call shrinks to that same deadline: whichever timer fired first.
      const routerWait = /^ApiError: The upstream did not answer within (\d+) ms\.$/.exec(r.detail ?? "");
      if (routerWait) expect(Number(routerWait[1])).toBeLessThanOrEqual(timeoutMs);
      else expect(r.detail).toBe(`action timed out after ${timeoutMs} ms (SCHEDULER_ACTION_TIMEOUT_MS)`);
      // Generous bounds: it did hang (not a quick failure) and ended near the deadline (a loaded
      // machine adds a little).
      const took = (r.finished_at as number) - (r.fired_at as number);
      expect(took).toBeGreaterThanOrEqual(timeoutMs / 2);
      expect(took).toBeLessThan(timeoutMs + 5_000);
    }
    expect(maxOverlap(slowRuns)).toBeLessThanOrEqual(limit);
    expect(slowRuns.filter((r) => r.fired_at !== null).length).toBeGreaterThanOrEqual(limit);
    // The heartbeats really went to the tarpit (their model call hung there, x-request-id sched:<job>:<due>).
    const heartbeatIds = new Set(hanging.filter((j) => j.def.action.kind === "heartbeat").map((j) => j.id));
    const atTarpit = (await tarpit("/v1/")).requests.filter((r) => heartbeatIds.has(r.request_id?.split(":")[1] ?? ""));
    expect(atTarpit.length).toBeGreaterThanOrEqual(1);
    expect((await tarpit(`/hook/${tag}/`)).requests.length).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
