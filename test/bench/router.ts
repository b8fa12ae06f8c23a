// Router benchmark: `npm run bench -- router` -> bench-results/router.json.
// Everything runs here, in one run, against the same local fake upstreams (test/fakes):
//  1. overhead of the full router (rate limits, breaker and cache lookup on) over calling the
//     upstream directly, at concurrency 1 and 10 (p50, p99);
//  2. the same load through Portkey's open-source gateway (@portkey-ai/gateway) and the ratios;
//  3. cache: a repeated request's latency against the first (upstream answers in 200 ms);
//  4. fault drill: one of two providers answers 500 for ROUTER_FAULT_SECONDS (default 30) under
//     load: success rate through the router, and when the failing target's breaker opened.
// The Worker runs on workerd through Miniflare (test/bench/workerd-host.ts: the deploy bundle,
// wrangler.jsonc's bindings, local D1 and Durable Objects), without `wrangler dev`'s proxy worker
// in front, owned by a child process (workerd-process.ts) so that Miniflare's handling of the
// Worker's log lines does not run on this process's event loop, which times the requests;
// ROUTER_BENCH_HOST=wrangler-dev measures through `wrangler dev` instead.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import type { FakeUpstream } from "../fakes/openai-upstream.ts";
import { freePort, quietEnv as quiet, root, startFakeUpstreamProcess, wranglerBin as wrangler } from "../support/local-stack.ts";
import { startRelay, type WorkerdHost } from "./workerd-host.ts";
import { startWorkerdProcess } from "./workerd-process.ts";
import { chatBody as body, load, pct, round } from "./load.ts";

const FAULT_S = Number(process.env.ROUTER_FAULT_SECONDS ?? 30);
const N_C1 = Number(process.env.ROUTER_BENCH_N1 ?? 1000);
const N_C10 = Number(process.env.ROUTER_BENCH_N10 ?? 3000);
const ROUNDS = Number(process.env.ROUTER_BENCH_ROUNDS ?? 10);
const WORKER_PORT = Number(process.env.ROUTER_BENCH_PORT ?? 8795);
const PORTKEY_PORT = 8799;
const HOST = process.env.ROUTER_BENCH_HOST === "wrangler-dev" ? "wrangler-dev" : "workerd";
// local: Miniflare's Queues broker and the Worker's own consumer (every event written to local D1)
// run in the gateway's workerd; sink: the producer binding goes to a Worker that drops each batch
// (workerd-host.ts), measuring only the gateway's own side of metering.
const QUEUE = process.env.ROUTER_BENCH_QUEUE === "sink" ? "sink" : "local";
const SECRET = "bench-admin-secret-0123456789abcdef0123";
const children: ChildProcess[] = [];

function log(msg: string) {
  console.log(`[bench:router] ${msg}`);
}

async function waitFor(url: string, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`${url} did not come up`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}

function stopAll() {
  for (const child of children) if (child.exitCode === null && child.pid) child.kill("SIGINT");
}

// The fake upstreams run in processes of their own (see startFakeUpstreamProcess); stopAll
// takes them down with the rest if the run fails.
async function startUpstreamProcess(): Promise<FakeUpstream> {
  const fake = await startFakeUpstreamProcess();
  children.push(fake.child);
  return fake;
}

async function main() {
  const upA = await startUpstreamProcess();
  const upB = await startUpstreamProcess();
  const state = mkdtempSync(join(tmpdir(), "edgeclaw-bench-"));
  const devVars = join(state, ".dev.vars");
  // The fakes listen on 127.0.0.1 over http: the outbound-URL policy's local opt-in.
  writeFileSync(devVars, `ADMIN_JWT_SECRET=${SECRET}\nOUTBOUND_ALLOW_HOSTS=127.0.0.1\n`);
  let host: Awaited<ReturnType<typeof startWorkerdProcess>> | undefined;
  let relay: WorkerdHost | undefined;
  try {
    log("applying migrations to a fresh local D1");
    const mig = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quiet, encoding: "utf8" });
    if (mig.status !== 0) throw new Error(`migrations failed: ${mig.stderr}`);
    log(`starting the Worker (${HOST}) and Portkey`);
    if (HOST === "wrangler-dev") {
      start(process.execPath, [wrangler, "dev", "--ip", "127.0.0.1", "--port", String(WORKER_PORT), "--persist-to", state, "--env-file", devVars, "--log-level=warn", "--show-interactive-dev-session=false"], quiet);
    } else {
      host = await startWorkerdProcess({ root, state, port: WORKER_PORT, secrets: { ADMIN_JWT_SECRET: SECRET, OUTBOUND_ALLOW_HOSTS: "127.0.0.1" }, env: quiet, queueSink: QUEUE === "sink" });
    }
    start(process.execPath, [join(root, "node_modules/@portkey-ai/gateway/build/start-server.js"), `--port=${PORTKEY_PORT}`, "--headless"], quiet);
    const base = `http://127.0.0.1:${WORKER_PORT}`;
    await waitFor(`${base}/health`);
    await waitFor(`http://127.0.0.1:${PORTKEY_PORT}/`);

    const owner = await signAdminToken(SECRET, { sub: "bench", role: "owner" }, 3600);
    const adminCall = async (method: string, path: string, payload: unknown) => {
      const res = await fetch(`${base}/admin${path}`, { method, headers: { authorization: `Bearer ${owner}`, "content-type": "application/json" }, body: JSON.stringify(payload) });
      const json = (await res.json()) as any;
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const tenant = "bench";
    await adminCall("POST", "/tenants", { id: tenant, name: "Bench" });
    await adminCall("POST", "/providers", { tenant_id: tenant, name: "prov-a", kind: "openai-compatible", base_url: `${upA.url}/v1` });
    await adminCall("POST", "/providers", { tenant_id: tenant, name: "prov-b", kind: "openai-compatible", base_url: `${upB.url}/v1` });
    const key = (await adminCall("POST", "/api-keys", { tenant_id: tenant, name: "bench" })).key as string;
    const slowScn = "bench-slow";
    const drillScn = "bench-drill";
    await fetch(`${upA.url}/control/scenario/${slowScn}`, { method: "POST", body: JSON.stringify({ mode: "delay", delay_ms: 200 }) });
    await fetch(`${upA.url}/control/scenario/${drillScn}`, { method: "POST", body: JSON.stringify({ mode: "ok" }) });
    const huge = { requests_per_min: 10_000_000, tokens_per_min: 10_000_000_000 };
    await adminCall("PUT", "/router-config", {
      tenant_id: tenant,
      config: {
        limits: { tenant: huge, key: huge },
        routes: {
          // Unique prompts at temperature 0: every request looks the cache up (a miss) and is stored.
          bench: { tree: { type: "target", provider: "prov-a", model: "fake-echo" }, cache: { ttl_s: 600 } },
          "bench-cache": { tree: { type: "target", provider: "prov-a", model: `fake-scn-${slowScn}` }, cache: { ttl_s: 600 } },
          drill: {
            tree: { type: "weighted", children: [{ type: "target", id: "a", provider: "prov-a", model: `fake-scn-${drillScn}` }, { type: "target", id: "b", provider: "prov-b", model: "fake-echo" }] },
            retry: { attempts: 2, base_ms: 20, max_ms: 200, budget_ms: 10_000 },
            breaker: { failures: 5, failure_rate: 0.5, min_requests: 20, window_ms: 10_000, open_ms: 5_000, half_open_probes: 2 },
          },
        },
      },
    });

    const json = { "content-type": "application/json" };
    const direct = () => fetch(`${upA.url}/v1/chat/completions`, { method: "POST", headers: json, body: body("fake-echo") });
    const router = () => fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { ...json, authorization: `Bearer ${key}` }, body: body("bench") });
    const portkey = () =>
      fetch(`http://127.0.0.1:${PORTKEY_PORT}/v1/chat/completions`, {
        method: "POST",
        headers: { ...json, authorization: "Bearer sk-bench", "x-portkey-provider": "openai", "x-portkey-custom-host": `${upA.url}/v1` },
        body: body("fake-echo"),
      });

    // Sanity: each path answers.
    for (const [name, send] of [["direct", direct], ["router", router], ["portkey", portkey]] as const) {
      const res = await send();
      if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }

    // The floor: a bare Worker on workerd that only relays the same call (workerd-host.ts): what
    // any Worker on this host adds to a direct call before doing anything of its own.
    relay = await startRelay({ upstream: upA.url, port: await freePort() });
    const relayUrl = `${relay.url}/v1/chat/completions`;
    const bare = () => fetch(relayUrl, { method: "POST", headers: json, body: body("fake-echo") });
    const overhead: Record<string, number> = {};
    const raw: Record<string, unknown> = {};
    // This host is noisy (2 shared vCPUs): measured one after the other, the paths would see
    // different machines. So the paths are interleaved: at concurrency 1 request by request (the
    // order rotating), at concurrency 10 in ROUNDS short blocks per path (the order rotating),
    // and each path's percentiles are taken over all its samples.
    const paths = { direct, router, portkey, bare } as const;
    type PathName = keyof typeof paths;
    const names = Object.keys(paths) as PathName[];
    for (const [c, n] of [[1, N_C1], [10, N_C10]] as const) {
      log(`overhead at concurrency ${c} (${n} requests per path, interleaved)`);
      for (const send of [direct, router, portkey]) await load(c, Math.min(100, n), send); // warm-up
      const samples = Object.fromEntries(names.map((k) => [k, { ms: [] as number[], failed: 0, reported: [] as number[] }])) as Record<PathName, Awaited<ReturnType<typeof load>>>;
      const cpuBefore = (await host?.cpuMs()) ?? null;
      const rounds = c === 1 ? n : ROUNDS;
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < names.length; i++) {
          const name = names[(r + i) % names.length] as PathName;
          const got = await load(c, c === 1 ? 1 : Math.ceil(n / ROUNDS), paths[name]);
          const into = samples[name];
          into.ms.push(...got.ms);
          into.reported.push(...got.reported);
          into.failed += got.failed;
        }
      }
      const { direct: d, router: r, portkey: p, bare: b } = samples;
      const floor = { p50: pct(b.ms, 50) - pct(d.ms, 50), p99: pct(b.ms, 99) - pct(d.ms, 99) };
      if (r.failed || p.failed || d.failed || b.failed) throw new Error(`failures during the overhead run: direct ${d.failed}, router ${r.failed}, portkey ${p.failed}, relay ${b.failed}`);
      for (const q of [50, 99]) {
        overhead[`overhead_p${q}_ms_c${c}`] = round(pct(r.ms, q) - pct(d.ms, q));
        overhead[`portkey_overhead_p${q}_ms_c${c}`] = round(pct(p.ms, q) - pct(d.ms, q));
        overhead[`overhead_ratio_p${q}_c${c}`] = round(overhead[`overhead_p${q}_ms_c${c}`]! / Math.max(0.001, overhead[`portkey_overhead_p${q}_ms_c${c}`]!));
        overhead[`local_relay_floor_p${q}_ms_c${c}`] = round(q === 50 ? floor.p50 : floor.p99);
        overhead[`overhead_above_relay_floor_p${q}_ms_c${c}`] = round(overhead[`overhead_p${q}_ms_c${c}`]! - (q === 50 ? floor.p50 : floor.p99));
      }
      const cpuAfter = (await host?.cpuMs()) ?? null;
      // workerd's CPU over the phase (the gateway's requests and its background work: usage
      // sends, the queue consumer's D1 writes, cache writes), per router request.
      if (cpuBefore !== null && cpuAfter !== null) overhead[`worker_cpu_ms_per_request_c${c}`] = round((cpuAfter - cpuBefore) / r.ms.length);
      raw[`c${c}`] = {
        requests: d.ms.length,
        interleaving: c === 1 ? "request by request" : `${ROUNDS} rounds of ${Math.ceil(n / ROUNDS)} requests per path`,
        direct_p50_ms: round(pct(d.ms, 50)),
        direct_p99_ms: round(pct(d.ms, 99)),
        router_p50_ms: round(pct(r.ms, 50)),
        router_p99_ms: round(pct(r.ms, 99)),
        // The gateway's own x-edgeclaw-overhead-ms (time not spent waiting on the upstream).
        router_reported_overhead_p50_ms: round(pct(r.reported, 50)),
        router_reported_overhead_p99_ms: round(pct(r.reported, 99)),
        portkey_p50_ms: round(pct(p.ms, 50)),
        portkey_p99_ms: round(pct(p.ms, 99)),
        bare_relay_p50_ms: round(pct(b.ms, 50)),
        bare_relay_p99_ms: round(pct(b.ms, 99)),
      };
    }

    log("cache: first request against a repeat (upstream takes 200 ms)");
    const firsts: number[] = [];
    const repeats: number[] = [];
    for (let i = 0; i < 5; i++) {
      const payload = JSON.stringify({ model: "bench-cache", temperature: 0, messages: [{ role: "user", content: `cache probe ${i}` }] });
      const once = async () => {
        const t0 = performance.now();
        const res = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { ...json, authorization: `Bearer ${key}` }, body: payload });
        await res.arrayBuffer();
        return { ms: performance.now() - t0, status: res.headers.get("x-edgeclaw-cache-status") };
      };
      const a = await once();
      const b = await once();
      if (a.status !== "MISS" || b.status !== "HIT") throw new Error(`cache statuses ${a.status} then ${b.status}`);
      firsts.push(a.ms);
      repeats.push(b.ms);
    }
    const cache = {
      cache_first_ms: round(pct(firsts, 50)),
      cache_repeat_ms: round(pct(repeats, 50)),
      cache_latency_reduction: round(1 - pct(repeats, 50) / pct(firsts, 50), 4),
    };

    log(`fault drill: prov-a answers 500 for ${FAULT_S} s under load (concurrency 8)`);
    // Four clients (API keys), two loops each: one key's failures alone open only that key's own
    // breaker (docs/router.md, fairness); an upstream that fails everyone opens the shared one.
    const drillKeys = [key, ...(await Promise.all([1, 2, 3].map(async (i) => (await adminCall("POST", "/api-keys", { tenant_id: tenant, name: `drill-${i}` })).key as string)))];
    const drill = (k: string) => fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { ...json, authorization: `Bearer ${k}` }, body: JSON.stringify({ model: "drill", messages: [{ role: "user", content: "drill" }] }) });
    let ok = 0;
    let total = 0;
    let running = true;
    const drillLoad = Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        while (running) {
          total++;
          try {
            const res = await drill(drillKeys[i % drillKeys.length] as string);
            await res.arrayBuffer();
            if (res.status === 200) ok++;
          } catch {
            // counted as a failure
          }
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const faultStart = Date.now();
    await fetch(`${upA.url}/control/scenario/${drillScn}`, { method: "POST", body: JSON.stringify({ mode: "fail", status: 500 }) });
    let openedAt: number | null = null;
    while (Date.now() - faultStart < FAULT_S * 1000) {
      if (openedAt === null) {
        const res = await fetch(`${base}/admin/router-config/breakers?tenant_id=${tenant}&model=drill`, { headers: { authorization: `Bearer ${owner}` } });
        const a = ((await res.json()) as { data: { path: string; opened_at: string | null }[] }).data.find((b) => b.path === "drill/a");
        if (a?.opened_at) openedAt = Date.parse(a.opened_at);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await fetch(`${upA.url}/control/scenario/${drillScn}`, { method: "POST", body: JSON.stringify({ mode: "ok" }) });
    await new Promise((r) => setTimeout(r, 2_000));
    running = false;
    await drillLoad;
    const fault = {
      fault_seconds: FAULT_S,
      fault_requests: total,
      fault_success_rate: round(ok / total, 5),
      breaker_open_after_ms: openedAt === null ? null : Math.max(0, openedAt - faultStart),
    };

    const result = {
      generated_at: new Date().toISOString(),
      machine:
        HOST === "wrangler-dev"
          ? "local, wrangler dev (its proxy worker + workerd, local D1 and DOs) + Node fakes on the same host; figures are for comparison within this run"
          : "local, workerd via Miniflare (the wrangler deploy bundle, wrangler.jsonc bindings, local D1, DOs and Cache API; no wrangler dev proxy) + Node fakes on the same host; figures are for comparison within this run",
      worker_host: HOST,
      usage_queue: QUEUE,
      targets: { overhead_p50_ms_c1: "<= 2", overhead_p99_ms_c10: "<= portkey_overhead_p99_ms_c10", cache_latency_reduction: ">= 0.95", fault_success_rate: ">= 0.999" },
      ...overhead,
      ...cache,
      ...fault,
      // The Worker's own JSON line per request, counted by the host (workerd-host.ts) instead of
      // reprinted: it shows the lines were written while the overhead was measured.
      ...(host ? { worker_request_log_lines: (await host.logCounts()).requests } : {}),
      raw,
    };
    mkdirSync(join(root, "bench-results"), { recursive: true });
    writeFileSync(join(root, "bench-results", "router.json"), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    stopAll();
    await host?.dispose();
    await relay?.dispose();
    await Promise.all([upA.close(), upB.close()]);
    await new Promise((r) => setTimeout(r, 500));
    rmSync(state, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  stopAll();
  process.exit(1);
});
