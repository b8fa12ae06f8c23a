// A V8 CPU profile of the gateway's isolate while it serves one kind of request: the gateway on
// workerd (workerd-process.ts, queue sink) with its inspector on WORKERD_INSPECTOR_PORT (9229 by
// default), PROFILE_N chat calls at concurrency 10 through a route without cache or limits, then
// the self time per function (top 40) and the inclusive time of the gateway's own stages.
// `node test/bench/profile.ts`. A diagnostic for docs/router.md's bisect, not a benchmark.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { adminClient, freePort, quietEnv as quiet, root, startFakeUpstreamProcess, wranglerBin as wrangler } from "../support/local-stack.ts";
import { chatBody, load } from "./load.ts";
import { startProfile, summarize } from "./cpu-profile.ts";
import { startWorkerdProcess } from "./workerd-process.ts";

const N = Number(process.env.PROFILE_N ?? 4000);
const PORT = Number((process.env.WORKERD_INSPECTOR_PORT ??= "9229"));
const SECRET = "profile-admin-secret-0123456789abcdef0123";


const upstream = await startFakeUpstreamProcess();
const state = mkdtempSync(join(tmpdir(), "edgeclaw-profile-"));
const mig = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quiet, encoding: "utf8" });
if (mig.status !== 0) throw new Error(`migrations failed: ${mig.stderr}`);
writeFileSync(join(state, ".dev.vars"), "");
const host = await startWorkerdProcess({ root, state, port: await freePort(), secrets: { ADMIN_JWT_SECRET: SECRET, OUTBOUND_ALLOW_HOSTS: "127.0.0.1" }, env: quiet, queueSink: true });
try {
  const admin = adminClient(host.url, await signAdminToken(SECRET, { sub: "profile", role: "owner" }, 3600));
  await admin("POST", "/tenants", { id: "p", name: "p" });
  await admin("POST", "/providers", { tenant_id: "p", name: "up", kind: "openai-compatible", base_url: `${upstream.url}/v1` });
  const key = ((await admin("POST", "/api-keys", { tenant_id: "p", name: "p" })) as { key: string }).key;
  await admin("PUT", "/router-config", { tenant_id: "p", config: { routes: { plain: { tree: { type: "target", provider: "up", model: "fake-echo" } } } } });
  const send = () => fetch(`${host.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: chatBody("plain") });
  await load(10, 500, send);
  const profiler = await startProfile(PORT, 100);
  await load(10, N, send);
  const { totalUs, self, inclusive } = summarize(await profiler.stop(), 100);
  const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1)}%`;
  console.log(`sampled ${(totalUs / 1000).toFixed(0)} ms`);
  for (const [l, us] of self.slice(0, 40)) console.log(`self ${pct(us)} ${l}`);
  for (const [l, us] of inclusive.slice(0, 60)) console.log(`incl ${pct(us)} ${l}`);
} finally {
  await host.dispose();
  await upstream.close();
  rmSync(state, { recursive: true, force: true });
}
