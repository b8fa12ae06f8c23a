// The scheduler across a real outage: `wrangler dev` (workerd, DO SQLite and alarms on disk) is
// stopped while interval jobs fall due several times, then started again on the same state. Each
// job's missed-run policy decides what runs: all of the missed occurrences, one, or none; and no
// occurrence ever runs twice.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { adminClient, freePort, quietEnv as quiet, root, waitUp, wranglerBin as wrangler } from "../support/local-stack.ts";

const SECRET = "scheduler-e2e-admin-secret-0123456789abcdef";
const EVERY_MS = 2_000;
const GRACE_MS = 1_000; // an occurrence later than this when it fires counts as missed
const OUTAGE_MS = 14_000;

type Run = { scheduled_at: string; state: string; detail: string | null };

const dir = mkdtempSync(join(tmpdir(), "edgeclaw-scheduler-e2e-"));
const state = join(dir, "state");
const devVars = join(dir, ".dev.vars");
let port = 0;
let dev: ChildProcess | null = null;
let token = "";

async function startDev() {
  dev = spawn(
    process.execPath,
    [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--env-file", devVars, "--show-interactive-dev-session=false", "--log-level=warn",
      "--var", `SCHEDULER_MISSED_GRACE_MS:${GRACE_MS}`, "--var", "SCHEDULER_SHARDS:4"],
    { cwd: root, env: quiet, stdio: "ignore", detached: true },
  );
  await waitUp(`http://127.0.0.1:${port}/health`, dev);
}

/** Stops wrangler dev the way a person does (SIGINT to its process group) and waits for it. */
async function stopDev() {
  const child = dev;
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  process.kill(-child.pid, "SIGINT");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid, "SIGKILL");
}

const admin = (method: string, path: string, body?: unknown) => adminClient(`http://127.0.0.1:${port}`, token)(method, path, body);

const runs = async (id: string): Promise<Run[]> => (await admin("GET", `/jobs/${id}/runs?limit=500`)).data;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  port = await freePort();
  // Local webhook targets listen on 127.0.0.1 over http: the outbound-URL policy's local opt-in.
  writeFileSync(devVars, `ADMIN_JWT_SECRET=${SECRET}\nOUTBOUND_ALLOW_HOSTS=127.0.0.1\n`);
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quiet, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stdout}${migrate.stderr}`);
  token = await signAdminToken(SECRET, { sub: "scheduler-e2e", role: "owner" }, 3600);
  await startDev();
  await admin("POST", "/tenants", { id: "sched", name: "Scheduler e2e" });
}, 240_000);

afterAll(async () => {
  await stopDev();
  rmSync(dir, { recursive: true, force: true });
});

describe("missed-run policies after the dev server was stopped", () => {
  it("runs all missed occurrences, or the latest one, or none, each at most once, then carries on", async () => {
    const start = Date.now() + 1_000;
    const jobs: Record<"all" | "once" | "skip", string> = { all: "", once: "", skip: "" };
    for (const missed of ["all", "once", "skip"] as const) {
      const job = await admin("POST", "/jobs", { tenant_id: "sched", name: `every 2 s, missed=${missed}`, schedule: { kind: "interval", every_ms: EVERY_MS, start_at: start }, action: { kind: "record" }, missed });
      jobs[missed] = job.id;
    }
    // Running before the outage.
    for (const id of Object.values(jobs)) {
      for (let i = 0; !(await runs(id)).some((r) => r.state === "ok"); i++) {
        if (i > 300) throw new Error(`job ${id} never ran`);
        await sleep(100);
      }
    }

    await stopDev();
    const stoppedAt = Date.now();
    await sleep(OUTAGE_MS);
    const restartedAt = Date.now();
    await startDev();
    await sleep(3 * EVERY_MS); // catch-up happens at once; then a couple of regular runs

    // Occurrences due while stopped and certainly late (beyond the grace) when the server came back.
    const missedWindow = (t: number) => t > stoppedAt && t <= restartedAt - GRACE_MS;
    const dueInWindow: number[] = [];
    for (let t = start; t <= restartedAt; t += EVERY_MS) if (missedWindow(t)) dueInWindow.push(t);
    expect(dueInWindow.length).toBeGreaterThanOrEqual(4);

    const after = async (missed: keyof typeof jobs) => {
      const list = await runs(jobs[missed]);
      const keys = list.filter((r) => r.state !== "skipped").map((r) => r.scheduled_at);
      expect(new Set(keys).size).toBe(keys.length); // never twice
      const ok = list.filter((r) => r.state === "ok").map((r) => Date.parse(r.scheduled_at));
      return { list, missedRan: ok.filter(missedWindow), ranAfter: ok.filter((t) => t > restartedAt).length, skipped: list.filter((r) => r.state === "skipped") };
    };

    const all = await after("all");
    expect(all.missedRan.sort()).toEqual(dueInWindow);
    expect(all.ranAfter).toBeGreaterThanOrEqual(1);

    const once = await after("once");
    expect(once.missedRan.length).toBeLessThanOrEqual(1);
    expect(once.skipped.length).toBeGreaterThanOrEqual(1);
    expect(once.skipped.some((r) => /missed occurrence\(s\) skipped \(policy once\)/.test(r.detail ?? ""))).toBe(true);
    expect(once.ranAfter).toBeGreaterThanOrEqual(1);

    const skip = await after("skip");
    expect(skip.missedRan).toEqual([]);
    expect(skip.skipped.some((r) => /missed occurrence\(s\) skipped \(policy skip\)/.test(r.detail ?? ""))).toBe(true);
    expect(skip.ranAfter).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
