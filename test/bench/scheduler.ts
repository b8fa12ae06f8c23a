// Scheduler benchmark: `npm run bench -- scheduler` -> bench-results/scheduler.json.
// `wrangler dev` (workerd, local D1 and Durable Objects, --log-level=warn,
// X_LOCAL_OBSERVABILITY=false) on a fresh state directory. Two phases in one run, one tenant each:
// 1,000 and then 100,000 one-shot `record` jobs (the action that only records its run), created
// through POST /admin/jobs/bulk (1,000 per request, a few requests at once) with due times spread
// evenly over a 2-minute window that starts after the inserts are expected to be done. The run
// records are polled until every job fired or a deadline passed; lag = fired - due as the shard
// recorded it. missed: jobs without a run; duplicated: effects beyond one per (job, due time).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { adminClient, freePort, quietEnv as quiet, root, wranglerBin } from "../support/local-stack.ts";

const SECRET = "scheduler-bench-admin-secret-0123456789abcdef";
const WINDOW_MS = Number(process.env.SCHEDULER_BENCH_WINDOW_MS ?? 120_000);
const BIG = Number(process.env.SCHEDULER_BENCH_JOBS ?? 100_000);
const SMALL = 1_000;
const PER_REQUEST = 1_000;
const PARALLEL = 4;

function log(msg: string) {
  console.log(`[bench:scheduler] ${msg}`);
}

function pct(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "edgeclaw-scheduler-bench-"));
const state = join(dir, "state");
const devVars = join(dir, "dev.vars");
// Local webhook targets listen on 127.0.0.1 over http: the outbound-URL policy's local opt-in.
writeFileSync(devVars, `ADMIN_JWT_SECRET="${SECRET}"\nOUTBOUND_ALLOW_HOSTS="127.0.0.1"\n`);
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
let dev: ChildProcess | null = null;

try {
  const migrate = spawnSync(process.execPath, [wranglerBin, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quiet, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stdout}${migrate.stderr}`);
  dev = spawn(
    process.execPath,
    [wranglerBin, "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--env-file", devVars, "--show-interactive-dev-session=false", "--log-level=warn"],
    { cwd: root, env: quiet, stdio: ["ignore", "ignore", "inherit"], detached: true },
  );
  for (let up = false; !up; ) {
    if (dev.exitCode !== null) throw new Error("wrangler dev exited");
    up = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (!up) await sleep(200);
  }
  const owner = await signAdminToken(SECRET, { sub: "bench", role: "owner" }, 7200);
  const adminCall = adminClient(base, owner);

  async function phase(n: number, leadMs: number) {
    const tenant = `bench-${n}`;
    await adminCall("POST", "/tenants", { id: tenant, name: tenant });
    // Warm every shard (and the admin path) first.
    await adminCall("GET", `/jobs?tenant_id=${tenant}&limit=1`);
    const windowStart = Date.now() + leadMs;
    const dueAt = (i: number) => Math.round(windowStart + (i * WINDOW_MS) / n);
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      for (;;) {
        const from = next;
        if (from >= n) return;
        next += PER_REQUEST;
        const jobs = [];
        for (let i = from; i < Math.min(n, from + PER_REQUEST); i++) jobs.push({ schedule: { kind: "once", at: dueAt(i) }, action: { kind: "record" } });
        await adminCall("POST", "/jobs/bulk", { tenant_id: tenant, jobs });
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const insertMs = performance.now() - started;
    const insertPerS = Math.round(n / (insertMs / 1000));
    log(`${n} jobs: inserted in ${Math.round(insertMs)} ms (${insertPerS}/s); window starts in ${Math.round(windowStart - Date.now())} ms`);
    if (Date.now() > windowStart) log("warning: inserts ran into the window (lag for the late ones counts from their clamped due time)");
    const deadline = windowStart + WINDOW_MS + 60_000;
    let stats: any;
    for (;;) {
      await sleep(2_000);
      stats = await adminCall("GET", `/jobs/record-stats?tenant_id=${tenant}`);
      if (stats.runs >= n || Date.now() > deadline) break;
    }
    // Anything run twice would show a little later.
    await sleep(3_000);
    stats = await adminCall("GET", `/jobs/record-stats?tenant_id=${tenant}&lags=1`);
    const lags = (stats.lags as number[]).sort((a, b) => a - b);
    const result = {
      jobs: n,
      lag_p50_ms: pct(lags, 50),
      lag_p99_ms: pct(lags, 99),
      lag_max_ms: lags[lags.length - 1] ?? NaN,
      insert_per_s: insertPerS,
      missed: n - stats.runs,
      duplicated: stats.duplicated,
    };
    log(JSON.stringify(result));
    return result;
  }

  const small = await phase(SMALL, 5_000);
  const big = await phase(BIG, Number(process.env.SCHEDULER_BENCH_LEAD_MS ?? 45_000));
  const out = {
    bench: "scheduler",
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
    setup: {
      gateway: "wrangler dev (workerd, local D1 and Durable Objects), --log-level=warn, X_LOCAL_OBSERVABILITY=false",
      shards: 16,
      tick_ms: 100,
      window_ms: WINDOW_MS,
      insert: `POST /admin/jobs/bulk, ${PER_REQUEST} jobs per request, ${PARALLEL} requests at once`,
      action: "record (the run's effect row only)",
    },
    lag_p50_ms: big.lag_p50_ms,
    lag_p99_ms: big.lag_p99_ms,
    lag_max_ms: big.lag_max_ms,
    insert_per_s: big.insert_per_s,
    missed: big.missed,
    duplicated: big.duplicated,
    lag_p99_ratio_100k_vs_1k: Math.round((big.lag_p99_ms / Math.max(1, small.lag_p99_ms)) * 100) / 100,
    phases: { [String(SMALL)]: small, [String(BIG)]: big },
  };
  mkdirSync(join(root, "bench-results"), { recursive: true });
  writeFileSync(join(root, "bench-results", "scheduler.json"), `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote bench-results/scheduler.json: ${JSON.stringify({ ...out, phases: undefined, setup: undefined, machine: undefined })}`);
} finally {
  if (dev?.pid && dev.exitCode === null) {
    const exited = new Promise((r) => dev?.once("exit", r));
    process.kill(-dev.pid, "SIGINT");
    await Promise.race([exited, sleep(10_000)]);
    if (dev.exitCode === null) process.kill(-dev.pid, "SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
}
