// Two regions and the global entry on this machine, as `wrangler deploy --env <region>` and
// `--env global` would run them (docs/deploy.md): three `wrangler dev` processes from the repo
// root, `--env eu` and `--env us` each with a state directory of its own (its own local D1
// `edgeclaw-<region>` and its own Durable Object storage), and `--env global`, which has no D1 and
// no Durable Objects and reaches the regions through its REGION_<X> service bindings. Service
// bindings between separate `wrangler dev` processes connect through wrangler's dev registry; each
// stack gets a private one (WRANGLER_REGISTRY_PATH) so that two runs on one machine never bind to
// each other's Workers. The regional test's fakes (an OpenAI-compatible upstream, the Telegram Bot
// API, which also records webhook and hook callbacks) run here, in the test's process.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { startFakeUpstream, type FakeUpstream } from "../fakes/openai-upstream.ts";
import { startFakeTelegram, type FakeTelegram } from "../fakes/telegram.ts";
import { freePort, quietEnv, root, waitUp, wranglerBin } from "./local-stack.ts";

export type Region = "eu" | "us";
export const REGIONS: readonly Region[] = ["eu", "us"];
export type Place = Region | "global";

export const ADMIN_SECRET = "regions-stack-admin-secret-0123456789abcdef";
// Deployment-wide secrets the tenants' rows name (an owner may reference them).
// One bot per region, so the Bot API fake keeps each region's replies apart.
export const TELEGRAM_BOT_TOKEN: Record<Region, string> = { eu: "555001:regions-stack-eu-bot", us: "555002:regions-stack-us-bot" };
export const TELEGRAM_TOKEN_REF: Record<Region, string> = { eu: "TELEGRAM_REGIONS_EU_BOT", us: "TELEGRAM_REGIONS_US_BOT" };
export const WEBHOOK_SECRET = "regions-stack-webhook-signing-secret";
export const WEBHOOK_SECRET_REF = "WEBHOOK_REGIONS";

export interface RegionsStack {
  dir: string;
  // The global entry, and each region's own Worker.
  entry: string;
  bases: Record<Region, string>;
  // Each process's --persist-to directory (the global entry's should stay free of tenant data).
  states: Record<Place, string>;
  upstream: { url: string };
  telegram: FakeTelegram;
  owner: string;
  // Admin API through `base` (the entry unless said), for `region` (X-EdgeClaw-Region).
  admin(region: Region, base?: string): (method: string, path: string, body?: unknown) => Promise<any>;
  // What a process printed (warnings and errors only), for failure messages.
  output(place: Place): string;
  // Ctrl-C to every wrangler dev, waiting for each to exit; the fakes keep running.
  stop(): Promise<void>;
  // stop(), the fakes, the directory.
  close(): Promise<void>;
}

export interface RegionsStackOptions {
  // An upstream already running (the bench runs its own in a separate process).
  upstreamUrl?: string;
  log?: (msg: string) => void;
  // Extra `--var NAME:value` for the regional Workers.
  vars?: Record<string, string>;
  // Another wrangler config than the repo's (wrangler -c).
  config?: string;
}

interface Proc {
  child: ChildProcess;
  out: string;
}

// Runs a wrangler command to completion; throws with its output on failure.
function wrangler(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [wranglerBin, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", fail);
    child.on("exit", (code) => (code === 0 ? done() : fail(new Error(`wrangler ${args.slice(0, 4).join(" ")} failed (${code}):\n${out}`))));
  });
}

// SIGINT to the process group (what a terminal's Ctrl-C does: wrangler and its workerd child),
// SIGKILL if it has not exited after 15 s.
async function interrupt(child: ChildProcess): Promise<void> {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  process.kill(-child.pid, "SIGINT");
  const stopped = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
  if (!stopped) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
  }
}

// A key of region `to` that no tenant has: forwarded from `from` to `to`, whose Worker answers
// 401 invalid_api_key once the binding is connected.
async function waitBound(from: string, to: Region, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const res = await fetch(`${from}/v1/models`, { headers: { authorization: `Bearer sk-ec-${to}-${"A".repeat(43)}` } }).catch(() => null);
    const body = res ? await res.text() : "";
    if (res?.status === 401 && body.includes("invalid_api_key")) return;
    if (Date.now() > until) throw new Error(`${from} cannot reach region ${to} after ${ms} ms: ${res?.status} ${body.slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startRegionsStack(options: RegionsStackOptions = {}): Promise<RegionsStack> {
  const log = options.log ?? (() => {});
  const dir = mkdtempSync(join(tmpdir(), "edgeclaw-regions-"));
  const states: Record<Place, string> = { eu: join(dir, "eu"), us: join(dir, "us"), global: join(dir, "global") };
  const registry = join(dir, "registry");
  mkdirSync(registry);
  const devVars = join(dir, "dev.vars");
  // The same secrets file for all three (scripts/dev-vars.ts makes the same kinds for npm start):
  // the admin token key, the vault's master key, the deployment-wide references the tenants use.
  const secrets: Record<string, string> = {
    ADMIN_JWT_SECRET: ADMIN_SECRET,
    VAULT_KEYS: JSON.stringify({ current: "r1", keys: { r1: randomBytes(32).toString("base64") } }),
    ...Object.fromEntries(REGIONS.map((r) => [TELEGRAM_TOKEN_REF[r], TELEGRAM_BOT_TOKEN[r]])),
    [WEBHOOK_SECRET_REF]: WEBHOOK_SECRET,
    SEND_RETRY_BASE_MS: "200",
    TURN_RETRY_BASE_MS: "500",
  };
  writeFileSync(devVars, Object.entries(secrets).map(([k, v]) => `${k}='${v}'\n`).join(""));

  let upstream: FakeUpstream | null = null;
  const upstreamUrl = options.upstreamUrl ?? (upstream = await startFakeUpstream()).url;
  const telegram = await startFakeTelegram();
  const env = { ...quietEnv, WRANGLER_REGISTRY_PATH: registry };
  const config = options.config ? ["--config", options.config] : [];
  const procs: Partial<Record<Place, Proc>> = {};

  const ports = { eu: await freePort(), us: await freePort(), global: await freePort() };
  const inspector = { eu: await freePort(), us: await freePort(), global: await freePort() };
  const bases: Record<Region, string> = { eu: `http://127.0.0.1:${ports.eu}`, us: `http://127.0.0.1:${ports.us}` };
  const entry = `http://127.0.0.1:${ports.global}`;
  const vars = {
    // workerd refuses namespace.jurisdiction() ("Jurisdiction restrictions are not implemented in
    // workerd"), so locally the regional Workers run without one; each region's objects are kept
    // apart by its own process and state directory instead, which is what the storage check reads.
    DO_JURISDICTION: "",
    // The fakes listen on 127.0.0.1 over http: the outbound-URL policy's local opt-in.
    OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
    // Only two of the configured regions run here.
    REGIONS: REGIONS.join(","),
    ...options.vars,
  };
  const start = (place: Place) => {
    const args = [wranglerBin, "dev", ...config, "--env", place, "--ip", "127.0.0.1", "--port", String(ports[place]), "--inspector-port", String(inspector[place])];
    args.push("--persist-to", states[place], "--env-file", devVars, "--show-interactive-dev-session=false", "--log-level=warn");
    const own = place === "global" ? { REGIONS: vars.REGIONS } : vars;
    for (const [k, v] of Object.entries(own)) args.push("--var", `${k}:${v}`);
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const proc: Proc = { child, out: "" };
    const keep = (d: Buffer) => (proc.out = (proc.out + d.toString()).slice(-20_000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    procs[place] = proc;
    return child;
  };

  const stop = async () => {
    await Promise.all(Object.values(procs).map((p) => interrupt(p.child)));
  };
  const output = (place: Place) => procs[place]?.out ?? "";
  try {
    log("applying D1 migrations to each region's own database");
    await Promise.all(
      REGIONS.map((r) => wrangler(["d1", "migrations", "apply", `edgeclaw-${r}`, "--local", "--env", r, "--persist-to", states[r], ...config], env)),
    );
    log("starting wrangler dev --env eu, --env us and --env global");
    await Promise.all(
      (["eu", "us", "global"] as const).map(async (place) => {
        const health = `${place === "global" ? entry : bases[place]}/health`;
        try {
          await waitUp(health, start(place));
        } catch (err) {
          // Three wrangler dev processes pick their internal sockets' ports at once (and other
          // test files run beside them): one can lose a port between its pick and its bind. Once more.
          if (!output(place).includes("Address already in use")) throw err;
          log(`${place}: a port was taken while it started; starting it again`);
          await waitUp(health, start(place));
        }
      }),
    );
    // Each process finds the others through the dev registry a moment after they are up: until
    // then a service binding answers 503 "Worker ... not found". Wait until every forwarding path
    // the tests use reaches its region.
    const paths = [...REGIONS.map((r) => [entry, r] as const), ...REGIONS.map((r) => [bases[r], REGIONS.find((o) => o !== r)!] as const)];
    await Promise.all(paths.map(([from, to]) => waitBound(from, to)));
  } catch (err) {
    await stop();
    await telegram.close();
    await upstream?.close();
    const outs = (["eu", "us", "global"] as const).map((p) => `--- ${p}:\n${output(p)}`).join("\n");
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${outs}`);
  }

  const owner = await signAdminToken(ADMIN_SECRET, { sub: "regions-stack", role: "owner" }, 3600);
  const admin = (region: Region, base = entry) => async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${owner}`, "x-edgeclaw-region": region, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) {
      // A 5xx is the Worker's own failure: what the processes logged says why.
      const logs = res.status >= 500 ? `\n--- ${region}:\n${output(region).slice(-4000)}\n--- global:\n${output("global").slice(-2000)}` : "";
      throw new Error(`${method} ${path} (${region}): ${res.status} ${text.slice(0, 400)}${logs}`);
    }
    return JSON.parse(text);
  };

  return {
    dir,
    entry,
    bases,
    states,
    upstream: { url: upstreamUrl },
    telegram,
    owner,
    admin,
    output,
    stop,
    async close() {
      await stop();
      await telegram.close();
      await upstream?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
