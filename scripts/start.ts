// `npm start`: the whole gateway on this machine, from what is already installed.
//   1. creates the local secrets file (.dev.vars) when missing;
//   2. applies the D1 migrations to the local database;
//   3. starts the gpu-backend (CPU; API key from .dev.vars; tiny-model fallback allowed) and waits
//      until it is ready;
//   4. seeds the demo tenant, its provider (this gpu-backend, with that key as its credential),
//      model and API key;
//   5. builds the operator console (console/, Vite) when its build is missing or older than its
//      source, then starts `wrangler dev` on 127.0.0.1 with the offline flags, waits for /health;
//   6. prints the base URL, the key, a curl line and the console URL. Ctrl-C stops both processes.
// State lives in .wrangler/state and survives restarts.
//
// Environment (all optional):
//   EDGECLAW_PORT (8787)            wrangler dev's port
//   GPU_BACKEND_PORT (8788)         the gpu-backend's port
//   EDGECLAW_API_KEY                the demo key (sk-edgeclaw-demo)
//   EDGECLAW_MODEL (default)        the public model name clients send
//   EDGECLAW_STATE_DIR              local D1 state (.wrangler/state)
//   EDGECLAW_DEV_VARS               local secrets file (.dev.vars)
//   EDGECLAW_READY_TIMEOUT_MS       how long to wait for each process (900000)
//   MODEL, SLOTS, THREADS, ...      passed to the gpu-backend (see its README)
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDevVars, readDevVars } from "./dev-vars.ts";
import { GPU_BACKEND_CREDENTIAL, seedSql } from "./seed.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cwd = process.env.INIT_CWD ?? process.cwd();
const env = process.env;

const port = Number(env.EDGECLAW_PORT ?? 8787);
const gpuPort = Number(env.GPU_BACKEND_PORT ?? 8788);
const apiKey = env.EDGECLAW_API_KEY ?? "sk-edgeclaw-demo";
const publicModel = env.EDGECLAW_MODEL ?? "default";
const stateDir = resolve(cwd, env.EDGECLAW_STATE_DIR ?? join(root, ".wrangler", "state"));
const devVars = resolve(cwd, env.EDGECLAW_DEV_VARS ?? join(root, ".dev.vars"));
const readyTimeoutMs = Number(env.EDGECLAW_READY_TIMEOUT_MS ?? 900_000);
const wranglerBin = join(root, "node_modules", "wrangler", "bin", "wrangler.js");
const viteBin = join(root, "node_modules", "vite", "bin", "vite.js");

// wrangler stays offline and quiet; without CLOUDFLARE_CF_FETCH_ENABLED=false the first request
// stalls while it tries to fetch cf.json.
const wranglerEnv = {
  ...env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
};

function log(message: string): void {
  console.log(`[edgeclaw] ${message}`);
}

function checkPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`[edgeclaw] ${name} must be a port number, got ${String(value)}`);
    process.exit(2);
  }
}
checkPort("EDGECLAW_PORT", port);
checkPort("GPU_BACKEND_PORT", gpuPort);
if (apiKey.length < 16) {
  console.error("[edgeclaw] EDGECLAW_API_KEY must be at least 16 characters");
  process.exit(2);
}

// Runs a wrangler command to completion (stdin closed, so it never waits for a confirmation).
function wrangler(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [wranglerBin, ...args], { cwd: root, env: wranglerEnv, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`wrangler ${args.slice(0, 3).join(" ")} failed (exit ${code}):\n${output}`)),
    );
  });
}

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

// Children get their own process group, so a terminal's Ctrl-C reaches only this script, which
// then stops each child exactly once with SIGINT (a second SIGINT makes the gpu-backend skip
// draining its in-flight requests).
function startChild(name: string, args: string[], childEnv: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ["ignore", "inherit", "inherit"], detached: true });
  children.push({ name, child });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`[edgeclaw] ${name} exited unexpectedly (${signal ?? `exit ${code}`}); stopping.`);
      void stop(1);
    }
  });
  return child;
}

async function stop(exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    log("stopping wrangler dev and the gpu-backend...");
  }
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const force = setTimeout(() => child.kill("SIGKILL"), 15_000);
          child.once("exit", () => {
            clearTimeout(force);
            done();
          });
          child.kill("SIGINT");
        }),
    ),
  );
  process.exit(exitCode);
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
// Last resort if this script dies another way: do not leave the children running.
process.on("exit", () => {
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
});

async function waitFor(name: string, url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} was not ready at ${url} within ${readyTimeoutMs} ms`);
}

async function servedModel(baseUrl: string, apiKey: string): Promise<string> {
  const res = await fetch(`${baseUrl}/models`, { headers: { authorization: `Bearer ${apiKey}` } });
  const body = (await res.json()) as { data?: { id: string }[] };
  const id = body.data?.[0]?.id;
  if (!id) throw new Error(`the gpu-backend at ${baseUrl} lists no model`);
  return id;
}

// The newest modification time of a file under `path` (a file or a folder).
function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

// The console's static build (workers/console/ serves it): rebuilt only when missing or older
// than its source, so parallel starts of an up-to-date checkout never rewrite it under each other.
async function buildConsole(): Promise<void> {
  const built = join(root, "console", "dist", "console", "index.html");
  const sources = ["src", "index.html", "vite.config.ts"].map((p) => join(root, "console", p));
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources.map(newest))) return;
  log("building the console (vite build)");
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [viteBin, "build", "--config", join(root, "console", "vite.config.ts")], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolvePromise() : reject(new Error(`vite build failed (exit ${code}):\n${output}`))));
  });
}

async function main(): Promise<void> {
  const generated = ensureDevVars(devVars);
  if (generated.length > 0) log(`wrote fresh ${generated.join(", ")} to ${devVars}`);

  log(`applying D1 migrations (state in ${stateDir})`);
  await wrangler(["d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", stateDir]);

  const gpuBaseUrl = `http://127.0.0.1:${gpuPort}/v1`;
  log(`starting the gpu-backend on 127.0.0.1:${gpuPort}${env.MODEL ? ` with MODEL=${env.MODEL}` : ""}`);
  // The gpu-backend's API key lives in .dev.vars, where wrangler dev reads it as the seeded
  // provider's credential; the gpu-backend gets the same value as API_KEYS. The tiny random-weight
  // model is a deliberate opt-in for local use only (offline, no model downloaded yet).
  const gpuKey = readDevVars(devVars)[GPU_BACKEND_CREDENTIAL];
  if (!gpuKey) throw new Error(`${devVars} holds no ${GPU_BACKEND_CREDENTIAL}`);
  const gpu = startChild("gpu-backend", [join(root, "gpu-backend", "src", "main.ts")], {
    ALLOW_TINY_FALLBACK: "1",
    ...env,
    PORT: String(gpuPort),
    HOST: "127.0.0.1",
    API_KEYS: gpuKey,
  });
  await waitFor("gpu-backend", `http://127.0.0.1:${gpuPort}/health/ready`, gpu);
  const upstreamModel = await servedModel(gpuBaseUrl, gpuKey);

  log(`seeding the demo tenant: model '${publicModel}' -> gpu-backend '${upstreamModel}'`);
  const seedDir = mkdtempSync(join(tmpdir(), "edgeclaw-seed-"));
  try {
    const file = join(seedDir, "seed.sql");
    writeFileSync(file, await seedSql({ apiKey, gpuBackendUrl: gpuBaseUrl, upstreamModel, publicModel }));
    await wrangler(["d1", "execute", "edgeclaw", "--local", "--persist-to", stateDir, "--file", file]);
  } finally {
    rmSync(seedDir, { recursive: true, force: true });
  }

  // The outbound-URL policy refuses http and loopback upstreams; the local gpu-backend is both, so
  // npm start opts in for exactly that host and port, unless .dev.vars already says what to allow.
  const outbound = readDevVars(devVars).OUTBOUND_ALLOW_HOSTS ? [] : ["--var", `OUTBOUND_ALLOW_HOSTS:127.0.0.1:${gpuPort}`];
  await buildConsole();
  log(`starting wrangler dev on 127.0.0.1:${port}`);
  const dev = startChild(
    "wrangler dev",
    [wranglerBin, "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", stateDir, "--env-file", devVars, ...outbound, "--show-interactive-dev-session=false"],
    wranglerEnv,
  );
  const base = `http://127.0.0.1:${port}`;
  await waitFor("wrangler dev", `${base}/health`, dev);

  const body = JSON.stringify({ model: publicModel, messages: [{ role: "user", content: "Hello!" }] });
  console.log(
    [
      "",
      "EdgeClaw is running.",
      `  Base URL: ${base}/v1`,
      `  API key:  ${apiKey}`,
      `  Model:    ${publicModel} (gpu-backend model ${upstreamModel})`,
      `  Try:      curl -s ${base}/v1/chat/completions -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' -d '${body}'`,
      `  Console:  ${base}/console/   (sign in with the token that \`npm run -s admin -- token --role owner\` prints)`,
      "  Admin:    npm run -s admin -- token --role owner   (then call /admin/... with it as a Bearer token)",
      `  Metrics:  curl -s ${base}/metrics -H "Authorization: Bearer $(grep METRICS_TOKEN ${devVars} | cut -d'"' -f2)"`,
      "Press Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
}

main().catch((err: unknown) => {
  console.error(`[edgeclaw] ${err instanceof Error ? err.message : String(err)}`);
  void stop(1);
});
