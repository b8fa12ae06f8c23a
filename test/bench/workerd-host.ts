// Runs the gateway Worker for benchmarks on workerd through Miniflare directly, without
// `wrangler dev`'s proxy worker in front of it: the same bundle `wrangler deploy` would upload
// (`wrangler deploy --dry-run --outdir`), the same bindings (wrangler derives them from
// wrangler.jsonc with unstable_getMiniflareWorkerOptions: vars, D1, Durable Objects, the
// compatibility date), local D1 / DO / Cache API state under `state` in wrangler's own layout
// (so `wrangler d1 migrations apply --local --persist-to state` prepares it).
//
// The Worker listens on its own workerd socket (Miniflare's unsafeDirectSockets), not behind
// Miniflare's entry worker: that entry worker is a local-only hop (it routes between workers,
// fills in `request.cf`, renders pretty errors) which Cloudflare's edge does not run, and it
// costs about 0.9 ms per request on this host (measured: a Worker answering "ok" took 0.95 ms
// p50 through the entry worker, 0.43 ms on its own socket). The entry socket stays up on a
// random port for Miniflare's own use.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

export interface WorkerdHost {
  url: string;
  dispose(): Promise<void>;
  // Info-level lines the Worker logged (its one JSON line per request among them), counted
  // rather than printed: see logSink.
  logLines?: () => { info: number; requests: number };
}

// What the Worker logs (console.log) reaches the process that owns Miniflare through workerd's
// stdout, and Miniflare's default handler prints every line again. A benchmark writes ~5,000
// request lines a second, a cost Cloudflare does not put on the request path (the lines go to
// Workers Logs), so info lines are counted, not printed (the Worker still formats and writes each
// one); warnings and errors are printed. The router benchmark also runs this host in a child
// process (workerd-process.ts), away from its load generator's event loop.
function logSink() {
  let info = 0;
  let requests = 0;
  return {
    handle(log: { level: string; message: string }) {
      if (log.level === "error" || log.level === "warn") {
        console.error(log.message);
        return;
      }
      info++;
      if (log.message.startsWith('{"msg":"request"')) requests++;
    },
    counts: () => ({ info, requests }),
  };
}

// With `queueSink`, the USAGE_QUEUE producer binding is bound instead to a second Worker in the
// same workerd that takes each sendBatch over RPC and drops it: the gateway still builds, buffers,
// serializes and sends every event (its own work on Cloudflare), while Miniflare's local Queues
// broker, which stores each message and then runs the consumer's D1 writes on the same cores as
// the router under load, is left out. On Cloudflare both run outside the gateway's isolate.
const SINK = `import { WorkerEntrypoint } from "cloudflare:workers";
export class Sink extends WorkerEntrypoint {
  async send(body) { return undefined; }
  async sendBatch(messages) { let n = 0; for (const m of messages) n += m ? 1 : 0; return undefined; }
}
export default { fetch() { return new Response("queue sink"); } };`;

// With `relay`, the same workerd also runs RELAY_SCRIPT (below) on its own socket, so a stage probe
// (stages.ts) can read the CPU of a bare relayed call from the same process's counters.
export async function startWorkerd(opts: {
  root: string;
  state: string;
  port: number;
  secrets: Record<string, string>;
  env: NodeJS.ProcessEnv;
  queueSink?: boolean;
  relay?: { upstream: string; port: number };
}): Promise<WorkerdHost> {
  const outdir = join(opts.state, "dist");
  const wrangler = join(opts.root, "node_modules", "wrangler", "bin", "wrangler.js");
  const build = spawnSync(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir], { cwd: opts.root, env: opts.env, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`bundling failed: ${build.stderr}`);
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(opts.root, "wrangler.jsonc"));
  const v3 = join(opts.state, "v3");
  // Options wrangler leaves empty (no AI binding, no KV, ...) are dropped, and so are the module
  // rules (the bundle is one file): Miniflare validates strictly. So is `assets` (the console's
  // Static Assets): with it Miniflare runs its asset router Worker in front of the gateway on the
  // same cores, a hop that cost about 0.4 ms of CPU and 0.3-0.9 ms of latency per request here
  // (measured with stages.ts), which Cloudflare's edge does outside the Worker (and, with
  // run_worker_first, sends every request straight to it). Benchmarks never request the console.
  const empty = (v: unknown) => v === undefined || (typeof v === "object" && v !== null && Object.keys(v).length === 0);
  const worker = Object.fromEntries(Object.entries(workerOptions).filter(([k, v]) => !empty(v) && k !== "modulesRules" && k !== "rootPath" && k !== "assets"));
  const logs = logSink();
  const gateway = {
    ...worker,
    name: "edgeclaw",
    modules: true,
    scriptPath: join(outdir, "index.js"),
    modulesRoot: outdir,
    bindings: { ...(workerOptions.bindings as Record<string, string>), ...opts.secrets },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: opts.port }],
  } as Record<string, unknown>;
  if (opts.queueSink) {
    const producers = { ...(gateway.queueProducers as Record<string, unknown>) };
    delete producers.USAGE_QUEUE;
    gateway.queueProducers = producers;
    gateway.serviceBindings = { ...(gateway.serviceBindings as Record<string, unknown> | undefined), USAGE_QUEUE: { name: "queue-sink", entrypoint: "Sink" } };
  }
  const shared = {
    host: "127.0.0.1",
    port: 0,
    ...(process.env.WORKERD_INSPECTOR_PORT ? { inspectorPort: Number(process.env.WORKERD_INSPECTOR_PORT) } : {}),
    resourcePersistencePath: v3,
    handleStructuredLogs: logs.handle,
  };
  // wrangler's options are in Miniflare 4's shape; Miniflare 5 converts them.
  const extra = [
    ...(opts.queueSink ? [{ name: "queue-sink", modules: true, script: SINK, compatibilityDate: "2026-10-01" }] : []),
    ...(opts.relay ? [relayWorker(opts.relay)] : []),
  ];
  const mf = new Miniflare(
    convertV4MiniflareOptions((extra.length > 0 ? { ...shared, workers: [gateway, ...extra] } : { ...shared, ...gateway }) as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  await mf.ready;
  return { url: `http://127.0.0.1:${opts.port}`, dispose: () => mf.dispose(), logLines: logs.counts };
}

// The least any Worker on this host can add to an upstream call: a Worker that only relays the
// request to `upstream` (request in, one fetch out, the response streamed back), on its own
// workerd socket like the gateway. `floor` answers without fetching.
const RELAY_SCRIPT = `export default { async fetch(req, env) {
  const url = new URL(req.url);
  if (url.pathname === "/floor") return new Response("ok");
  return fetch(env.UP + url.pathname, { method: req.method, headers: { "content-type": "application/json" }, body: await req.text() });
} };`;

function relayWorker(opts: { upstream: string; port: number }) {
  return {
    name: "relay",
    modules: true,
    compatibilityDate: "2026-10-01",
    unsafeDirectSockets: [{ host: "127.0.0.1", port: opts.port }],
    bindings: { UP: opts.upstream },
    script: RELAY_SCRIPT,
  };
}

export async function startRelay(opts: { upstream: string; port: number }): Promise<WorkerdHost> {
  const mf = new Miniflare(convertV4MiniflareOptions({ host: "127.0.0.1", port: 0, ...relayWorker(opts) } as Parameters<typeof convertV4MiniflareOptions>[0]));
  await mf.ready;
  return { url: `http://127.0.0.1:${opts.port}`, dispose: () => mf.dispose() };
}
