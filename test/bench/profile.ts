// A V8 CPU profile of the gateway's isolate while it serves one kind of request: the gateway on
// workerd (workerd-process.ts, queue sink) with its inspector on WORKERD_INSPECTOR_PORT (9229 by
// default), PROFILE_N chat calls at concurrency 10 through a route without cache or limits, then
// the self time per function (top 40) and the inclusive time of the gateway's own stages.
// `node test/bench/profile.ts`. A diagnostic for docs/router.md's bisect, not a benchmark.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { adminClient, freePort, quietEnv as quiet, root, startFakeUpstreamProcess, wranglerBin as wrangler } from "../support/local-stack.ts";
import { chatBody, load } from "./load.ts";
import { startWorkerdProcess } from "./workerd-process.ts";

const N = Number(process.env.PROFILE_N ?? 4000);
const PORT = Number((process.env.WORKERD_INSPECTOR_PORT ??= "9229"));
const SECRET = "profile-admin-secret-0123456789abcdef0123";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

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
  const targets = (await (await fetch(`http://127.0.0.1:${PORT}/json/list`)).json()) as { webSocketDebuggerUrl: string; title?: string; id: string }[];
  const target = targets.find((t) => (t.title ?? t.id).includes("edgeclaw")) ?? targets[0];
  if (!target) throw new Error("no inspector target");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.once("open", r));
  let seq = 0;
  const pending = new Map<number, (v: any) => void>();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data));
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)!(msg.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<any>((resolve) => {
      const id = ++seq;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  await load(10, N, send);
  const { profile } = (await call("Profiler.stop")) as { profile: { nodes: Node[]; samples: number[] } };
  ws.close();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const s of profile.samples) self.set(s, (self.get(s) ?? 0) + 1);
  const total = profile.samples.length;
  const label = (n: Node) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
  const selfBy = new Map<string, number>();
  for (const [id, count] of self) {
    const n = byId.get(id) as Node;
    selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + count);
  }
  // Inclusive: each node's samples plus its subtree's, counted once per label per path.
  const incl = new Map<string, number>();
  const walk = (id: number, seen: Set<string>): number => {
    const n = byId.get(id) as Node;
    let sum = self.get(id) ?? 0;
    const l = label(n);
    const fresh = !seen.has(l);
    if (fresh) seen.add(l);
    for (const c of n.children ?? []) sum += walk(c, seen);
    if (fresh) {
      seen.delete(l);
      incl.set(l, (incl.get(l) ?? 0) + sum);
    }
    return sum;
  };
  walk(profile.nodes[0]!.id, new Set());
  const pct = (x: number) => `${((100 * x) / total).toFixed(1)}%`;
  console.log(`samples ${total}`);
  for (const [l, c] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`self ${pct(c)} ${l}`);
  for (const [l, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(`incl ${pct(c)} ${l}`);
} finally {
  await host.dispose();
  await upstream.close();
  rmSync(state, { recursive: true, force: true });
}
