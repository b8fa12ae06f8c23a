// The admin CLI (`npm run admin -- <resource> <verb>`, scripts/admin.ts) against a running gateway:
// `wrangler dev` on the real Worker (workerd, local D1 and Durable Objects), started once, with the
// fake OpenAI-compatible upstream as the only model provider (the gpu-backend is not needed for
// admin verbs). Every verb runs as a child process the way a user runs it, and the test reads its
// --json output and exit code. Also: a secret set from stdin never appears in any output, a
// viewer token is refused on a write (exit 1, the 403 shown), a tenant admin cannot see another
// tenant, and without --token the CLI mints its own from the local .dev.vars.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { freePort, quietEnv, root, startFakeUpstreamProcess, waitUp, wranglerBin } from "../support/local-stack.ts";

const SECRET = "cli-e2e-admin-secret-0123456789abcdef0123";
const VAULT_KEYS = JSON.stringify({ current: "e2e", keys: { e2e: Buffer.alloc(32, 7).toString("base64") } });
const SECRET_VALUE = "sk-cli-e2e-never-printed-8c1f0a77";

const dir = mkdtempSync(join(tmpdir(), "edgeclaw-cli-e2e-"));
const devVars = join(dir, ".dev.vars");
let base = "";
// Given to most runs as EDGECLAW_ADMIN_TOKEN: minting in each child would load the signing code
// every time. Runs with `mint: true` go without, so that the CLI mints its own from .dev.vars.
let ownerToken = "";
let dev: ChildProcess | null = null;
let upstream: Awaited<ReturnType<typeof startFakeUpstreamProcess>> | null = null;
// Every byte any CLI run printed, to check that the secret's value is never among them.
const printed: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any;
}

// One CLI run: `node scripts/admin.ts ...args`, pointed at the stack by the environment.
function cli(args: string[], options: { input?: string; token?: string; mint?: boolean; env?: Record<string, string> } = {}): Run {
  const res = spawnSync(process.execPath, ["scripts/admin.ts", ...args, ...(options.token ? ["--token", options.token] : [])], {
    cwd: root,
    input: options.input ?? "",
    encoding: "utf8",
    // Only what the CLI needs: no admin token or secret of the calling shell leaks in.
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      EDGECLAW_URL: base,
      EDGECLAW_DEV_VARS: devVars,
      ...(options.mint ? {} : { EDGECLAW_ADMIN_TOKEN: ownerToken }),
      ...options.env,
    } as unknown as NodeJS.ProcessEnv,
  });
  printed.push(res.stdout, res.stderr);
  let json: unknown;
  try {
    json = JSON.parse(res.stdout);
  } catch {
    json = undefined;
  }
  return { code: res.status, stdout: res.stdout, stderr: res.stderr, json };
}

// A --json run that must succeed.
function ok(...args: string[]): any {
  return okWith({}, ...args);
}

function okWith(options: Parameters<typeof cli>[1], ...args: string[]): any {
  const res = cli([...args, "--json"], options);
  expect(res.code, `${args.join(" ")}: ${res.stderr}`).toBe(0);
  return res.json;
}

async function until<T>(what: string, get: () => T | Promise<T>, done: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms (last: ${JSON.stringify(v).slice(0, 300)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // The fake upstream and the hook callbacks listen on 127.0.0.1 over http: the outbound-URL
  // policy's local opt-in.
  writeFileSync(devVars, `ADMIN_JWT_SECRET=${SECRET}\nVAULT_KEYS='${VAULT_KEYS}'\nOUTBOUND_ALLOW_HOSTS=127.0.0.1\n`);
  const state = join(dir, "state");
  const migrate = spawnSync(process.execPath, [wranglerBin, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", state], { cwd: root, env: quietEnv, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stdout}${migrate.stderr}`);
  upstream = await startFakeUpstreamProcess();
  dev = spawn(
    process.execPath,
    [wranglerBin, "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--env-file", devVars, "--show-interactive-dev-session=false", "--log-level=warn"],
    { cwd: root, env: quietEnv, stdio: "ignore", detached: true },
  );
  await waitUp(`${base}/health`, dev);
  ownerToken = await signAdminToken(SECRET, { sub: "cli-e2e", role: "owner" }, 3600);
}, 240_000);

afterAll(async () => {
  const child = dev;
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid, "SIGINT");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid, "SIGKILL");
  }
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("npm run admin -- <resource> <verb> against the running gateway", () => {
  const ids: Record<string, string> = {};

  it("manages tenants, keys and secrets with a token minted from .dev.vars; the secret's value is never printed", () => {
    // No --token and no EDGECLAW_ADMIN_TOKEN: an owner token is minted from the .dev.vars file.
    const mint = { mint: true };
    expect(okWith(mint, "tenants", "create", "--id", "acme", "--name", "Acme")).toMatchObject({ id: "acme", name: "Acme", revoked_at: null });
    ok("tenants", "create", "--id", "other", "--name", "Other");
    expect(ok("tenants", "show", "acme").id).toBe("acme");
    expect(ok("tenants", "list").data.map((t: any) => t.id).sort()).toEqual(["acme", "other"]);
    const table = cli(["tenants", "list"], mint);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+REGION\s+CREATED_AT\s+REVOKED_AT$/);

    const key = ok("keys", "create", "--tenant", "acme", "--name", "ci", "--scopes", "chat:write");
    expect(key).toMatchObject({ tenant_id: "acme", name: "ci", scopes: ["chat:write"], key: expect.stringMatching(/^sk-/) });
    ids.key = key.id;
    expect(ok("keys", "list", "--tenant", "acme").data.map((k: any) => k.id)).toEqual([key.id]);
    expect(ok("keys", "revoke", key.id).revoked_at).not.toBeNull();

    // The value arrives on stdin (with echo's newline, which is not part of it).
    const set = cli(["secrets", "set", "upstream-key", "--tenant", "acme", "--json"], { input: `${SECRET_VALUE}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect(set.json).toMatchObject({ tenant_id: "acme", name: "upstream-key", ref: "vault:upstream-key" });
    expect(ok("secrets", "show", "upstream-key", "--tenant", "acme").name).toBe("upstream-key");
    expect(ok("secrets", "list", "--tenant", "acme").data.map((s: any) => s.name)).toEqual(["upstream-key"]);
    expect(cli(["secrets", "list", "--tenant", "acme"]).stdout).toContain("vault:upstream-key");
    expect(ok("secrets", "rotate", "--batch-size", "10")).toMatchObject({ remaining: 0 });
    const audit = ok("audit", "list", "--tenant", "acme", "--action", "secret.*");
    expect(audit.data.map((r: any) => r.action)).toContain("secret.create");
    expect(cli(["secrets", "set", "upstream-key", SECRET_VALUE, "--tenant", "acme"]).code).toBe(2);
  });

  it("sets up providers, models and routes: edit from a file, diff, versions, rollback", () => {
    const provider = ok("providers", "create", "--tenant", "acme", "--name", "fake", "--kind", "openai-compatible", "--base-url", `${upstream!.url}/v1`, "--credential-ref", "vault:upstream-key");
    ids.provider = provider.id;
    expect(ok("providers", "list", "--tenant", "acme").data[0]).toMatchObject({ name: "fake", credential_ref: "vault:upstream-key" });
    expect(ok("providers", "update", provider.id, "--replicas", "null").replicas).toEqual([]);
    const model = ok("models", "create", "--tenant", "acme", "--name", "echo", "--provider", provider.id, "--upstream", "fake-echo");
    ids.model = model.id;
    expect(ok("models", "update", model.id, "--input-price", "1.5").input_price_per_mtok).toBe(1.5);
    expect(ok("models", "list", "--tenant", "acme").data.map((m: any) => m.public_name)).toEqual(["echo"]);

    expect(ok("routes", "get", "--tenant", "acme")).toMatchObject({ version: 0, config: { routes: {} } });
    const file = join(dir, "routes.json");
    expect(cli(["routes", "get", "--tenant", "acme", "--out", file]).code).toBe(0);
    const config = JSON.parse(readFileSync(file, "utf8"));
    config.routes.smart = { tree: { type: "target", provider: "fake", model: "fake-echo" } };
    writeFileSync(file, JSON.stringify(config));
    const diff = cli(["routes", "diff", "--tenant", "acme", "--file", file]);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toMatch(/^\+ +"provider": "fake",$/m);
    expect(diff.stdout).toMatch(/^- +"routes": \{\}$/m);
    expect(ok("routes", "edit", "--tenant", "acme", "--file", file, "--comment", "first")).toMatchObject({ version: 1, active: true, comment: "first" });
    expect(ok("routes", "diff", "--tenant", "acme", "--file", file)).toMatchObject({ live_version: 1, identical: true });
    config.routes.other = { tree: { type: "target", provider: "nope", model: "x" } };
    writeFileSync(file, JSON.stringify(config));
    // The gateway validates: a provider the tenant lacks is a 400, printed with its message.
    const refused = cli(["routes", "edit", "--tenant", "acme", "--file", file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: 400 unknown_provider: .*nope/m);
    delete config.routes.other;
    config.routes.smart.retry = { attempts: 2 };
    writeFileSync(file, JSON.stringify(config));
    expect(ok("routes", "edit", "--tenant", "acme", "--file", file).version).toBe(2);
    expect(ok("routes", "versions", "--tenant", "acme").data.map((v: any) => v.version)).toEqual([2, 1]);
    expect(ok("routes", "diff", "--tenant", "acme", "--version", "1").identical).toBe(false);
    expect(ok("routes", "rollback", "1", "--tenant", "acme", "--comment", "undo")).toMatchObject({ version: 3, rolled_back_from: 1 });
    expect(ok("routes", "get", "--tenant", "acme").config.routes.smart.retry).toBeUndefined();
    expect(ok("routes", "get", "--tenant", "acme", "--version", "2").config.routes.smart.retry).toMatchObject({ attempts: 2 });
    expect(ok("routes", "breakers", "--tenant", "acme", "--model", "smart").data[0]).toMatchObject({ phase: "closed" });
    expect(ok("routes", "spend", "--tenant", "acme")).toMatchObject({ tenant_id: "acme" });
  });

  it("runs channels, agents, bindings, pairings, sessions and dead letters through a hook account", async () => {
    const hook = ok("channels", "create", "--tenant", "acme", "--channel", "hook", "--name", "ci-hook");
    expect(hook.token).toMatch(/^ehk_/);
    expect(ok("channels", "list", "--tenant", "acme").data[0]).toMatchObject({ id: hook.id, channel: "hook" });
    const notDiscord = cli(["channels", "gateway", hook.id]);
    expect([notDiscord.code, notDiscord.stderr.trim()]).toEqual([1, expect.stringMatching(/^error: 400 not_discord: /)]);
    const agent = ok("agents", "create", "--tenant", "acme", "--name", "helper", "--model", "echo", "--system-prompt", "Be brief.", "--dm-policy", "pairing");
    expect(ok("agents", "update", agent.id, "--max-reply-tokens", "100").max_reply_tokens).toBe(100);
    expect(ok("agents", "show", agent.id)).toMatchObject({ name: "helper", dm_policy: "pairing" });
    expect(ok("agents", "list", "--tenant", "acme").data).toHaveLength(1);
    const binding = ok("bindings", "create", "--tenant", "acme", "--agent", agent.id, "--channel", "hook");
    expect(ok("bindings", "list", "--tenant", "acme").data.map((b: any) => b.id)).toEqual([binding.id]);

    const post = (text: string, key: string, callback?: string) =>
      fetch(`${base}/hooks/agent`, {
        method: "POST",
        headers: { authorization: `Bearer ${hook.token}`, "idempotency-key": key, "content-type": "application/json" },
        body: JSON.stringify({ text, peer: "alice", ...(callback ? { callback_url: callback } : {}) }),
      });
    // fetch reuses the keep-alive connection of the readiness poll, which the dev server may have
    // closed meanwhile; a POST is not retried on it. The hook dedupes by Idempotency-Key, so
    // sending again is what any client of it does.
    const send = (text: string, key: string, callback?: string) => post(text, key, callback).catch(() => post(text, key, callback));
    expect((await send("hi", "m1")).status).toBe(202);
    const pending = await until("a pairing request", () => ok("pairings", "list", "--tenant", "acme").data, (d: any[]) => d.some((p) => p.status === "pending"));
    expect(ok("pairings", "approve", pending[0].code, "--tenant", "acme")).toMatchObject({ status: "approved", peer_id: "alice" });
    // Replies go to a callback URL that answers 404: each a dead letter at once (not retryable).
    for (const key of ["m2", "m3"]) expect((await send(`hello ${key}`, key, `${upstream!.url}/no-such-callback`)).status).toBe(202);
    const dead = await until("two dead letters", () => ok("dead-letters", "list", "--tenant", "acme").data, (d: any[]) => d.length === 2);
    const [session] = ok("sessions", "list", "--tenant", "acme").data;
    expect(session).toMatchObject({ agent_id: agent.id, channel: "hook", account_id: hook.id });
    expect(dead.map((d: any) => d.session_key)).toEqual([session.key, session.key]);

    const exported = ok("sessions", "export", session.key);
    expect(exported.history.map((h: any) => h.content)).toEqual(expect.arrayContaining(["echo: hello m2", "echo: hello m3"]));
    const shown = cli(["sessions", "show", session.key]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^outbox_dead: +2$/m);
    const snap = ok("sessions", "snapshot", session.key);
    expect(ok("sessions", "restore", session.key, String(snap.id))).toMatchObject({ restored: snap.id });
    expect(ok("dead-letters", "retry", dead[0].id)).toMatchObject({ action: "retry", found: true });
    expect(ok("dead-letters", "drop", dead[1].id)).toMatchObject({ action: "drop", found: true });
    expect(cli(["sessions", "erase", session.key]).code).toBe(2); // no --yes
    expect(ok("sessions", "erase", session.key, "--yes")).toMatchObject({ erased: true });
    expect(ok("sessions", "list", "--tenant", "acme").data).toEqual([]);
    // Deny: bob's request is deleted (its code can no longer be approved); bob's next message asks
    // again with a new code.
    const asBob = (key: string) =>
      fetch(`${base}/hooks/agent`, { method: "POST", headers: { authorization: `Bearer ${hook.token}`, "idempotency-key": key, "content-type": "application/json" }, body: JSON.stringify({ text: "let me in", peer: "bob" }) });
    const bobPending = async () => (ok("pairings", "list", "--tenant", "acme").data as any[]).filter((p) => p.peer_id === "bob" && p.status === "pending");
    expect((await asBob("b1").catch(() => asBob("b1"))).status).toBe(202);
    const [bob] = await until("bob's pairing request", bobPending, (d: any[]) => d.length === 1);
    expect(ok("pairings", "deny", bob.code, "--tenant", "acme")).toMatchObject({ id: bob.id, status: "denied", peer_id: "bob" });
    expect((ok("pairings", "list", "--tenant", "acme").data as any[]).some((p) => p.id === bob.id)).toBe(false);
    const twice = cli(["pairings", "approve", bob.code, "--tenant", "acme"]);
    expect([twice.code, twice.stderr.trim()]).toEqual([1, expect.stringMatching(/^error: 404 not_found: /)]);
    expect((await asBob("b2").catch(() => asBob("b2"))).status).toBe(202);
    const [again] = await until("bob's new request", bobPending, (d: any[]) => d.length === 1);
    expect(again.code).not.toBe(bob.code);
    expect(ok("bindings", "delete", binding.id)).toMatchObject({ deleted: true });
    expect(ok("channels", "revoke", hook.id).revoked_at).not.toBeNull();
  });

  it("creates, triggers, pauses, resumes and deletes a job, and reads its runs", async () => {
    const job = ok("jobs", "create", "--tenant", "acme", "--name", "tick", "--cron", "0 3 * * *", "--tz", "Europe/Berlin", "--action", "record");
    expect(job).toMatchObject({ name: "tick", schedule: { kind: "cron", expr: "0 3 * * *", tz: "Europe/Berlin" }, state: "active" });
    expect(ok("jobs", "list", "--tenant", "acme").data.map((j: any) => j.id)).toEqual([job.id]);
    expect(ok("jobs", "show", job.id).next_at).toBe(job.next_at);
    expect(cli(["jobs", "trigger", job.id, "--json"]).code).toBe(0);
    const runs = await until("the triggered run", () => ok("jobs", "runs", job.id).data, (d: any[]) => d.some((r) => r.state === "ok"));
    expect(runs[0]).toMatchObject({ manual: true });
    expect(ok("jobs", "record-stats", "--tenant", "acme")).toMatchObject({ runs: 1 });
    expect(ok("jobs", "pause", job.id).state).toBe("paused");
    expect(ok("jobs", "resume", job.id).state).toBe("active");
    const bulk = cli(["jobs", "bulk", "--tenant", "acme", "--file", "-", "--json"], { input: JSON.stringify({ jobs: [{ schedule: { kind: "once", delay_ms: 3_600_000 }, action: { kind: "record" } }] }) });
    expect(bulk.json).toMatchObject({ created: 1 });
    expect(ok("jobs", "delete", job.id)).toMatchObject({ deleted: true });
    expect(ok("jobs", "delete", bulk.json.ids[0])).toMatchObject({ deleted: true });
  });

  it("reads usage (JSON and CSV) and audit, and sets their retention", () => {
    expect(ok("usage", "report", "--tenant", "acme", "--granularity", "hour")).toMatchObject({ granularity: "hour", data: expect.any(Array) });
    const csv = cli(["usage", "report", "--tenant", "acme", "--csv"]);
    expect(csv.code).toBe(0);
    expect(csv.stdout.split("\n")[0]).toMatch(/^bucket_start,requests,errors,/);
    expect(ok("usage", "set-retention", "--tenant", "acme", "--days", "30")).toMatchObject({ days: 30, source: "tenant" });
    expect(ok("usage", "retention", "--tenant", "acme")).toMatchObject({ days: 30 });
    expect(ok("audit", "set-retention", "--tenant", "acme", "--days", "90")).toMatchObject({ days: 90 });
    expect(ok("audit", "retention", "--tenant", "acme")).toMatchObject({ days: 90 });
    expect(ok("audit", "purge", "--tenant", "acme")).toMatchObject({ retention_days: 90, deleted: 0 });
    const actions = ok("audit", "list", "--tenant", "acme", "--kind", "admin", "--limit", "500").data.map((r: any) => r.action);
    expect(actions).toEqual(expect.arrayContaining(["tenant.create", "api_key.create", "router_config.rollback", "pairing.approve", "pairing.deny", "pairing.deny.done", "session.erase", "job.trigger"]));
  });

  it("enforces roles and tenant scope, and says why a call failed", async () => {
    const mint = (...args: string[]) => {
      const res = cli(["token", ...args], { env: { ADMIN_JWT_SECRET: SECRET } });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout.trim().split("\n")).toHaveLength(1); // the token and nothing else
      expect(res.stderr).toMatch(/^jti=\S+ exp=\d+ /);
      return res.stdout.trim();
    };
    const viewer = mint("--role", "viewer", "--tenant", "acme");
    expect(cli(["keys", "list", "--json"], { token: viewer }).code).toBe(0);
    const write = cli(["keys", "create", "--name", "nope"], { token: viewer });
    expect(write.code).toBe(1);
    expect(write.stderr).toContain("error: 403 read_only: A viewer token is read-only.");

    const admin = mint("--role", "admin", "--tenant", "acme");
    expect(JSON.parse(cli(["tenants", "list", "--json"], { token: admin }).stdout).data.map((t: any) => t.id)).toEqual(["acme"]);
    const other = cli(["tenants", "show", "other"], { token: admin });
    expect([other.code, other.stderr]).toEqual([1, expect.stringContaining("error: 404 not_found")]);
    expect(cli(["keys", "list", "--tenant", "other"], { token: admin }).stderr).toContain("error: 403 tenant_scope");
    expect(ok("tenants", "revoke", "other").revoked_at).not.toBeNull();

    // Revoking the token in use (log out); it is refused from then on.
    expect(JSON.parse(cli(["tokens", "revoke", "--self", "--json"], { token: viewer }).stdout)).toMatchObject({ revoked: true });
    expect(cli(["keys", "list"], { token: viewer }).stderr).toContain("error: 401");

    const bad = cli(["tenants", "list"], { token: "not-a-jwt" });
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining("error: 401")]);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = cli(["tenants", "list"], { env: { EDGECLAW_URL: closed } });
    expect([down.code, down.stderr]).toEqual([1, expect.stringContaining(`cannot reach ${closed}: connection refused`)]);
    expect(cli(["--help"]).code).toBe(0);
  });

  it("never printed the secret's value", () => {
    expect(printed.length).toBeGreaterThan(50);
    for (const text of printed) expect(text).not.toContain(SECRET_VALUE);
  });
});
