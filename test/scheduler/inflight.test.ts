// Exactly once with outside effects running off the drain (issue 10, item 5): an effect still in
// flight is never started again by a later alarm, even when its wheel row comes due early; one
// whose isolate died (its in-memory record is gone and its lease ran out) is retried with the same
// idempotency key as the next attempt; and a late outcome of an attempt that was superseded does
// not overwrite the newer attempt's record. The endpoint is the tarpit, so every attempt ends at
// the action deadline (2 s in vitest.config.ts) and the run is finally dead after max_attempts.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { waitFor } from "../channels/helpers.ts";
import { ownerToken } from "../gateway/helpers.ts";
import { allRuns, liveTenant, newJob, tarpit, testShard, type ShardInternals } from "./helpers.ts";

describe("an outside effect in flight", () => {
  it("is not started twice by repeated alarms, and is retried with the same key after its isolate died", async () => {
    const tenant = await liveTenant(await ownerToken());
    const tag = crypto.randomUUID();
    const job = newJob(tenant, {
      schedule: { kind: "once", delay_ms: 0 },
      action: { kind: "webhook", url: `${env.FAKE_TARPIT_URL}/hook/${tag}`, secret_ref: "WEBHOOK_TEST_SECRET" },
      max_attempts: 3,
    });
    const stub = testShard();
    await stub.create([job]);
    const first = await waitFor(() => tarpit(`/hook/${tag}`), (l) => l.requests.length >= 1, 10_000);
    expect(first.requests).toHaveLength(1);
    const key = first.requests[0]?.idempotency_key as string;
    expect(key).toMatch(new RegExp(`^sched:${job.id}:\\d+$`));

    // The row comes due again while the effect runs (as if its lease ran out early); two alarms.
    const during = await runInDurableObject(stub, async (instance) => {
      const shard = instance as unknown as ShardInternals;
      shard.sql.exec("UPDATE wheel SET bucket = 0 WHERE job_id = ?", job.id);
      await instance.alarm();
      await instance.alarm();
      return {
        inflight: shard.inflight.size,
        run: shard.sql.exec<{ state: string; attempts: number }>("SELECT state, attempts FROM runs WHERE job_id = ?", job.id).one(),
        bucket: shard.sql.exec<{ b: number }>("SELECT bucket AS b FROM wheel WHERE job_id = ?", job.id).one().b,
      };
    });
    expect(during.inflight).toBe(1);
    expect(during.run).toEqual({ state: "started", attempts: 1 });
    // Leased again, past the deadline, instead of started again.
    expect(during.bucket).toBeGreaterThan(Date.now());

    // The isolate dies: what it had in flight is forgotten, and the lease runs out.
    await runInDurableObject(stub, async (instance) => {
      const shard = instance as unknown as ShardInternals;
      shard.inflight.clear();
      shard.sql.exec("UPDATE wheel SET bucket = 0 WHERE job_id = ?", job.id);
      await instance.alarm();
    });

    // Attempt 1 (superseded), 2 (the retry after the "crash") and 3 each end at the deadline;
    // the run is dead after max_attempts, and the tarpit saw exactly one request per attempt.
    const runs = await waitFor(() => allRuns(stub), (r) => r[0]?.state === "dead", 30_000);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ state: "dead", attempts: 3 });
    expect(runs[0]?.detail).toMatch(/^action timed out after \d+ ms/);
    const all = await tarpit(`/hook/${tag}`);
    expect(all.requests.map((r) => r.idempotency_key)).toEqual([key, key, key]);
  }, 60_000);
});
