// Scheduler benchmark: `npm run bench -- scheduler` -> bench-results/scheduler.json.
// The gateway runs on workerd through Miniflare (test/bench/workerd-host.ts, in a child process:
// the `wrangler deploy` bundle, wrangler.jsonc's bindings, local D1, Durable Objects and Queues
// with the audit consumer) on a fresh state directory. Not `wrangler dev`: it watches the source
// tree and restarts workerd on any edit, which in a shared checkout happened within a minute of a
// run and would restart the shards mid-window. Two phases in one run, one tenant each:
// a baseline of 1,000 one-shot `record` jobs (the action that only records its run) due over
// 2 minutes, then the big phase (1,000,000 by default) due over its own window. Jobs are created
// through POST /admin/jobs/bulk (1,000 per request, 4 requests at once) with due times spread
// evenly over the window, which starts after the inserts are expected to be done. Nothing polls
// the gateway during a window (a poll scans every effect row of the tenant, which at 1M is itself
// a load); after it the run records are polled until every job fired or a deadline passed.
// lag = fired - due as the shard recorded it; missed: jobs without a run; duplicated: effects
// beyond one per (job, due time).
// Also measured, per phase: the workerd process's CPU time over the window (from /proc, so
// CPU ms per fired job) and its peak RSS; after the big phase, each shard's SQLite file (database
// plus WAL, on disk under the --persist-to directory) and its job count (the bench hashes the
// returned ids with the gateway's own shardOf).
// Knobs (environment):
//   SCHEDULER_BENCH_JOBS        jobs in the big phase (1000000)
//   SCHEDULER_BENCH_WINDOW_MS   the big phase's fire window (1200000: 20 minutes, 833 jobs/s at 1M;
//                               docs/scheduler.md "Benchmark" says why)
//   SCHEDULER_BENCH_SMALL_WINDOW_MS  the 1,000-job baseline's window (120000)
//   SCHEDULER_BENCH_LEAD_MS     how far after the big phase's first insert its window starts
//                               (default 15 s + 1 s per 5,000 jobs: the insert time with room)
//   SCHEDULER_BENCH_SHARDS      SCHEDULER_SHARDS for this run (default: wrangler.jsonc's)
//   SCHEDULER_BENCH_TICK_MS     SCHEDULER_TICK_MS for this run (default: wrangler.jsonc's)
//   SCHEDULER_BENCH_QUEUE       "sink": the usage/audit queue is bound to a sink that drops each batch
//                               (workerd-host.ts queueSink), to see what the local queue broker and
//                               the audit consumer's D1 writes (one event per run) cost here
//   SCHEDULER_BENCH_OUT         where the results go (bench-results/scheduler.json); a
//                               exploratory run (another shard count, a smaller scale) writes elsewhere
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { isAbsolute, join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { shardOf } from "../../workers/scheduler/timing.ts";
import { adminClient, freePort, quietEnv as quiet, root, wranglerBin } from "../support/local-stack.ts";
import { startWorkerdProcess } from "./workerd-process.ts";

const SECRET = "scheduler-bench-admin-secret-0123456789abcdef";
const BIG = Number(process.env.SCHEDULER_BENCH_JOBS ?? 1_000_000);
const WINDOW_MS = Number(process.env.SCHEDULER_BENCH_WINDOW_MS ?? 1_200_000);
const SMALL = 1_000;
const SMALL_WINDOW_MS = Number(process.env.SCHEDULER_BENCH_SMALL_WINDOW_MS ?? 120_000);
const LEAD_MS = Number(process.env.SCHEDULER_BENCH_LEAD_MS ?? 15_000 + Math.ceil(BIG / 5)); // 1 s per 5,000 jobs
const PER_REQUEST = 1_000;
const PARALLEL = 4;
// wrangler.jsonc's values unless the run overrides them (given as string bindings).
const configured = readFileSync(join(root, "wrangler.jsonc"), "utf8");
const configVar = (name: string) => Number(new RegExp(`"${name}":\\s*"(\\d+)"`).exec(configured)?.[1]);
const SHARDS = Number(process.env.SCHEDULER_BENCH_SHARDS ?? configVar("SCHEDULER_SHARDS"));
const TICK_MS = Number(process.env.SCHEDULER_BENCH_TICK_MS ?? configVar("SCHEDULER_TICK_MS"));
const QUEUE_SINK = process.env.SCHEDULER_BENCH_QUEUE === "sink";
const OUT = process.env.SCHEDULER_BENCH_OUT ?? join(root, "bench-results", "scheduler.json");
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

function log(msg: string) {
  console.log(`[bench:scheduler] ${new Date().toISOString().slice(11, 19)} ${msg}`);
}

function pct(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

// The workerd process under this benchmark (it runs the gateway, its objects and the queue).
function workerdPid(ancestor: number): number | null {
  const parent = new Map<number, number>();
  const names = new Map<number, string>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      names.set(Number(e), stat.slice(stat.indexOf("(") + 1, close));
      parent.set(Number(e), Number(stat.slice(close + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  for (const [pid, name] of names) {
    if (name !== "workerd") continue;
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === ancestor) return pid;
  }
  return null;
}

// CPU seconds (user + system) and resident memory of a process.
function usage(pid: number): { cpuS: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK, rssMiB: Math.round(rssKb / 1024) };
}

// The shards' SQLite files under the state directory: database plus WAL, bytes.
function shardFiles(state: string): number[] {
  const dirs: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) (/SchedulerShard/.test(e.name) ? dirs.push(join(d, e.name)) : walk(join(d, e.name)));
  };
  walk(state);
  const sizes: number[] = [];
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (!f.endsWith(".sqlite") || f === "metadata.sqlite") continue;
      const wal = join(d, `${f}-wal`);
      sizes.push(statSync(join(d, f)).size + (existsSync(wal) ? statSync(wal).size : 0));
    }
  }
  return sizes.sort((a, b) => a - b);
}

const dir = mkdtempSync(join(tmpdir(), "edgeclaw-scheduler-bench-"));
const state = join(dir, "state");
let host: Awaited<ReturnType<typeof startWorkerdProcess>> | null = null;
const loadBefore = load();

try {
  const migrate = spawnSync(process.execPath, [wranglerBin, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quiet, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stdout}${migrate.stderr}`);
  // String bindings given here override wrangler.jsonc's vars. Local webhook targets listen on
  // 127.0.0.1 over http: the outbound-URL policy's local opt-in.
  const secrets = { ADMIN_JWT_SECRET: SECRET, OUTBOUND_ALLOW_HOSTS: "127.0.0.1", SCHEDULER_SHARDS: String(SHARDS), SCHEDULER_TICK_MS: String(TICK_MS) };
  host = await startWorkerdProcess({ root, state, port: await freePort(), secrets, env: quiet, queueSink: QUEUE_SINK });
  const base = host.url;
  for (let up = false; !up; ) {
    up = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (!up) await sleep(200);
  }
  const workerd = workerdPid(process.pid);
  if (workerd === null) throw new Error("no workerd process under this benchmark");
  const owner = await signAdminToken(SECRET, { sub: "bench", role: "owner" }, 7200);
  const adminCall = adminClient(base, owner);
  log(`${SHARDS} shards, tick ${TICK_MS} ms; load ${loadBefore.join(" ")}`);

  async function phase(n: number, windowMs: number, leadMs: number) {
    const tenant = `bench-${n}`;
    await adminCall("POST", "/tenants", { id: tenant, name: tenant });
    // Warm every shard (and the admin path) first.
    await adminCall("GET", `/jobs?tenant_id=${tenant}&limit=1`);
    const windowStart = Date.now() + leadMs;
    const dueAt = (i: number) => Math.round(windowStart + (i * windowMs) / n);
    const perShard = new Array<number>(SHARDS).fill(0);
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      for (;;) {
        const from = next;
        if (from >= n) return;
        next += PER_REQUEST;
        const jobs = [];
        for (let i = from; i < Math.min(n, from + PER_REQUEST); i++) jobs.push({ schedule: { kind: "once", at: dueAt(i) }, action: { kind: "record" } });
        const res = await adminCall("POST", "/jobs/bulk", { tenant_id: tenant, jobs });
        for (const id of res.ids as string[]) perShard[shardOf(id, SHARDS)] = (perShard[shardOf(id, SHARDS)] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const insertMs = performance.now() - started;
    const insertPerS = Math.round(n / (insertMs / 1000));
    log(`${n} jobs: inserted in ${Math.round(insertMs)} ms (${insertPerS}/s); window starts in ${Math.round(windowStart - Date.now())} ms`);
    if (Date.now() > windowStart) log("warning: inserts ran into the window (lag for the late ones counts from their clamped due time)");
    // The window: no requests, only /proc samples of the workerd process.
    await sleep(Math.max(0, windowStart - Date.now()));
    const cpuStart = usage(workerd as number).cpuS;
    let rssMax = 0;
    const windowEnd = windowStart + windowMs;
    while (Date.now() < windowEnd) {
      rssMax = Math.max(rssMax, usage(workerd as number).rssMiB);
      await sleep(Math.min(2_000, Math.max(0, windowEnd - Date.now())));
    }
    const deadline = windowEnd + 60_000;
    let stats: any;
    for (;;) {
      await sleep(1_000);
      stats = await adminCall("GET", `/jobs/record-stats?tenant_id=${tenant}`);
      if (stats.runs >= n || Date.now() > deadline) break;
    }
    const cpuS = usage(workerd as number).cpuS - cpuStart;
    rssMax = Math.max(rssMax, usage(workerd as number).rssMiB);
    // Anything run twice would show a little later.
    await sleep(3_000);
    stats = await adminCall("GET", `/jobs/record-stats?tenant_id=${tenant}&lags=1`);
    const lags = (stats.lags as number[]).sort((a, b) => a - b);
    const result = {
      jobs: n,
      window_ms: windowMs,
      fire_rate_per_s: Math.round((n / windowMs) * 1000 * 10) / 10,
      lag_p50_ms: pct(lags, 50),
      lag_p99_ms: pct(lags, 99),
      lag_p999_ms: pct(lags, 99.9),
      lag_max_ms: lags[lags.length - 1] ?? NaN,
      insert_per_s: insertPerS,
      missed: n - stats.runs,
      duplicated: stats.duplicated,
      workerd_cpu_s_window: Math.round(cpuS * 10) / 10,
      workerd_cpu_ms_per_job: Math.round(((cpuS * 1000) / n) * 100) / 100,
      workerd_cpu_share_of_one_core: Math.round((cpuS / ((Date.now() - 3_000 - windowStart) / 1000)) * 100) / 100,
      workerd_rss_max_mib: rssMax,
      jobs_per_shard_min: Math.min(...perShard),
      jobs_per_shard_max: Math.max(...perShard),
    };
    log(JSON.stringify(result));
    return result;
  }

  const small = await phase(SMALL, SMALL_WINDOW_MS, 5_000);
  const big = await phase(BIG, WINDOW_MS, LEAD_MS);
  const files = shardFiles(state);
  const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
  const loadAfter = load();
  const out = {
    bench: "scheduler",
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version, loadavg_before: loadBefore, loadavg_after: loadAfter },
    setup: {
      gateway: "workerd through Miniflare (test/bench/workerd-host.ts: the wrangler deploy bundle, wrangler.jsonc's bindings, local D1, Durable Objects and Queues with the audit consumer), in a child process",
      shards: SHARDS,
      tick_ms: TICK_MS,
      window_ms: WINDOW_MS,
      small_window_ms: SMALL_WINDOW_MS,
      insert: `POST /admin/jobs/bulk, ${PER_REQUEST} jobs per request, ${PARALLEL} requests at once`,
      action: "record (the run's effect row only)",
      queue: QUEUE_SINK ? "sink (audit events built and sent, then dropped)" : "local Queues broker and the audit consumer (D1)",
      memory: "workerd_rss_max_mib: VmRSS of the workerd process, sampled every 2 s; shard_sqlite: each shard's .sqlite + .sqlite-wal file in the state directory after the big phase (all jobs, runs and effects of both phases)",
    },
    lag_p50_ms: big.lag_p50_ms,
    lag_p99_ms: big.lag_p99_ms,
    lag_max_ms: big.lag_max_ms,
    insert_per_s: big.insert_per_s,
    missed: big.missed,
    duplicated: big.duplicated,
    lag_p99_ratio_big_vs_1k: Math.round((big.lag_p99_ms / Math.max(1, small.lag_p99_ms)) * 100) / 100,
    memory: {
      workerd_rss_max_mib: big.workerd_rss_max_mib,
      shard_sqlite_mib: { count: files.length, min: mib(files[0] ?? 0), max: mib(files[files.length - 1] ?? 0), total: mib(files.reduce((a, b) => a + b, 0)) },
      jobs_per_shard: { min: big.jobs_per_shard_min, max: big.jobs_per_shard_max },
    },
    phases: { [String(SMALL)]: small, [String(BIG)]: big },
  };
  const outPath = isAbsolute(OUT) ? OUT : join(root, OUT);
  mkdirSync(join(outPath, ".."), { recursive: true });
  writeFileSync(outPath, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${outPath}: ${JSON.stringify({ ...out, phases: undefined, setup: undefined, machine: undefined })}; load ${loadAfter.join(" ")}`);
} finally {
  await host?.dispose();
  rmSync(dir, { recursive: true, force: true });
}
