// Where the router's cost goes, stage by stage: the gateway on workerd (workerd-process.ts, queue
// sink unless STAGES_QUEUE=local) serving the same chat call through variants that switch one
// stage off at a time (no cache, no limits, neither), beside GET /health. For each variant it
// reports workerd's CPU per request (the Worker, its Durable Objects, D1 and background work,
// read from /proc over a block of requests at concurrency 10) and the latency p50 at
// concurrency 1, the variants interleaved in rounds. `node test/bench/stages.ts`; prints JSON.
// A diagnostic for docs/router.md's bisect, not a benchmark with targets.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { adminClient, freePort, quietEnv as quiet, root, startFakeUpstreamProcess, wranglerBin as wrangler } from "../support/local-stack.ts";
import { chatBody, load, pct, round } from "./load.ts";
import { startWorkerdProcess } from "./workerd-process.ts";

const N = Number(process.env.STAGES_N ?? 2000);
const ROUNDS = Number(process.env.STAGES_ROUNDS ?? 4);
const SECRET = "stages-admin-secret-0123456789abcdef0123";

const upstream = await startFakeUpstreamProcess();
const state = mkdtempSync(join(tmpdir(), "edgeclaw-stages-"));
const mig = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quiet, encoding: "utf8" });
if (mig.status !== 0) throw new Error(`migrations failed: ${mig.stderr}`);
writeFileSync(join(state, ".dev.vars"), "");
const relayPort = await freePort();
const host = await startWorkerdProcess({
  relay: { upstream: upstream.url, port: relayPort },
  root,
  state,
  port: await freePort(),
  secrets: { ADMIN_JWT_SECRET: SECRET, OUTBOUND_ALLOW_HOSTS: "127.0.0.1" },
  env: quiet,
  queueSink: process.env.STAGES_QUEUE !== "local",
});
try {
  const admin = adminClient(host.url, await signAdminToken(SECRET, { sub: "stages", role: "owner" }, 3600));
  const huge = { requests_per_min: 10_000_000, tokens_per_min: 10_000_000_000 };
  const keys: Record<string, string> = {};
  for (const [tenant, limited] of [["limited", true], ["open", false]] as const) {
    await admin("POST", "/tenants", { id: tenant, name: tenant });
    await admin("POST", "/providers", { tenant_id: tenant, name: "up", kind: "openai-compatible", base_url: `${upstream.url}/v1` });
    keys[tenant] = ((await admin("POST", "/api-keys", { tenant_id: tenant, name: "stages" })) as { key: string }).key;
    await admin("PUT", "/router-config", {
      tenant_id: tenant,
      config: {
        ...(limited ? { limits: { tenant: huge, key: huge } } : {}),
        routes: {
          cached: { tree: { type: "target", provider: "up", model: "fake-echo" }, cache: { ttl_s: 600 } },
          plain: { tree: { type: "target", provider: "up", model: "fake-echo" } },
        },
      },
    });
  }
  const chat = (tenant: string, model: string) => () =>
    fetch(`${host.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${keys[tenant]}` }, body: chatBody(model) });
  const variants: Record<string, () => Promise<Response>> = {
    health: () => fetch(`${host.url}/health`),
    relay: () => fetch(`http://127.0.0.1:${relayPort}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: chatBody("fake-echo") }),
    full: chat("limited", "cached"),
    no_cache: chat("limited", "plain"),
    no_limits: chat("open", "cached"),
    neither: chat("open", "plain"),
  };
  // STAGES_ONLY=relay,neither measures only those.
  const only = process.env.STAGES_ONLY?.split(",");
  if (only) for (const k of Object.keys(variants)) if (!only.includes(k)) delete variants[k];
  for (const send of Object.values(variants)) await load(10, 200, send); // warm-up
  const cpu: Record<string, number> = {};
  const ms: Record<string, number[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, send] of Object.entries(variants)) {
      const before = await host.cpuMs();
      const got = await load(10, Math.ceil(N / ROUNDS), send);
      const after = await host.cpuMs();
      if (got.failed) throw new Error(`${name}: ${got.failed} failed`);
      cpu[name] = (cpu[name] ?? 0) + ((after ?? 0) - (before ?? 0));
      const c1 = await load(1, 100, send);
      (ms[name] ??= []).push(...c1.ms);
    }
  }
  const per = Math.ceil(N / ROUNDS) * ROUNDS;
  console.log(JSON.stringify(Object.fromEntries(Object.keys(variants).map((k) => [k, { cpu_ms_per_request_c10: round((cpu[k] ?? 0) / per), p50_ms_c1: round(pct(ms[k] ?? [], 50)) }])), null, 1));
} finally {
  await host.dispose();
  await upstream.close();
  rmSync(state, { recursive: true, force: true });
}
