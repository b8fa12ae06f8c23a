// `npm run deploy`. The dry run is the real thing (wrangler bundles every Worker offline). The
// real mode runs against test/deploy/fake-wrangler.mjs (EDGECLAW_WRANGLER): this tests OUR script
// against wrangler's CLI contract as recorded from wrangler 4.155.0 (its flags, `d1 list --json`,
// `secret bulk` reading JSON from stdin), not Cloudflare: no account is touched.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadRegions } from "../../scripts/config/regions.ts";
import { expectedBindings, listedBindings } from "../../scripts/deploy/deploy.ts";

const root = join(import.meta.dirname, "..", "..");
const fake = join(import.meta.dirname, "fake-wrangler.mjs");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Secret values that must reach `wrangler secret bulk`'s stdin and nothing else.
const JWT = "jwt-secret-value-0123456789abcdefghijklmnop";
const VAULT = JSON.stringify({ current: "k1", keys: { k1: "vault-key-material-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" } });
const BOT = "555001:telegram-bot-token-value";

interface Call {
  args: string[];
  input: string;
  token: string | null;
}

function run(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const base = { ...process.env };
    // Nothing from the developer's shell: only what each case gives.
    for (const k of Object.keys(base)) if (/^(CLOUDFLARE_|ADMIN_JWT_SECRET|VAULT_KEYS|PROVIDER_|WEBHOOK_|TELEGRAM_|SLACK_|DISCORD_|LINE_|WHATSAPP_|FEISHU_)/.test(k)) delete base[k];
    const child = spawn(process.execPath, [join(root, "scripts", "deploy.ts"), ...args], { cwd: root, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("exit", (code) => done({ code, output }));
  });
}

// A fake account: its D1 databases, the call log, a secrets folder, the deploy-time config folder.
function account(databases: { uuid: string; name: string; jurisdiction: string | null }[] = [], workers: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "edgeclaw-deploy-test-"));
  dirs.push(dir);
  writeFileSync(join(dir, "state.json"), JSON.stringify({ databases, workers }));
  writeFileSync(join(dir, "calls.jsonl"), "");
  const env = {
    EDGECLAW_WRANGLER: fake,
    FAKE_WRANGLER_LOG: join(dir, "calls.jsonl"),
    FAKE_WRANGLER_STATE: join(dir, "state.json"),
    EDGECLAW_DEPLOY_DIR: join(dir, "out"),
    EDGECLAW_SECRETS_DIR: join(dir, "secrets"),
    CLOUDFLARE_API_TOKEN: "fake-api-token",
    CLOUDFLARE_ACCOUNT_ID: "fake-account",
  };
  const calls = (): Call[] =>
    readFileSync(join(dir, "calls.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Call);
  const state = () => JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as { workers: string[]; deployed?: { name: string; stub: boolean }[]; queues?: { name: string; jurisdiction: string | null }[] };
  return { dir, env, calls, state };
}

const configOf = (call: Call) => call.args[call.args.indexOf("--config") + 1]!;

describe("npm run deploy -- --dry-run", () => {
  it("--all passes for every region and the global entry, offline, listing secret names only", async () => {
    const started = Date.now();
    const r = await run(["--all", "--dry-run"], { ADMIN_JWT_SECRET: JWT, EDGECLAW_SECRETS_DIR: join(root, "test", "deploy", "no-such-dir") });
    expect(r.code, r.output).toBe(0);
    // Each bundle's bindings, as wrangler lists them, are the default env's plus the region
    // contract (the entry: its service bindings and two vars only); deploy.ts compares them.
    const regions = loadRegions(join(root, "deploy", "regions.json"));
    for (const place of ["eu", "us", "apac", "global"]) {
      const line = r.output.split("\n").find((l) => l.startsWith(`[deploy] ${place}: Worker edgeclaw-${place}, bundle `));
      expect(line, r.output).toBeDefined();
      expect(line).toMatch(/ KiB \(index\.js\), \d+ bindings as expected$/);
      expect(line!.endsWith(`, ${expectedBindings(regions, place).length} bindings as expected`)).toBe(true);
    }
    expect(r.output).toContain("wrangler d1 create edgeclaw-eu --jurisdiction eu");
    expect(r.output).toContain("wrangler d1 create edgeclaw-us --jurisdiction us");
    expect(r.output).toContain("wrangler d1 create edgeclaw-apac --location apac");
    expect(r.output).toContain("0000_init.sql");
    expect(r.output).toContain("ADMIN_JWT_SECRET [environment]");
    expect(r.output).not.toContain(JWT);
    expect(r.output).toContain("dry run passed for eu, us, apac, global");
    console.log(`dry run --all: ${Date.now() - started} ms`);
  });
});

describe("the dry run's binding comparison", () => {
  const regions = loadRegions(join(root, "deploy", "regions.json"));
  it("expects the default env's bindings and the region contract in a region, only routing in the entry", () => {
    const eu = expectedBindings(regions, "eu");
    for (const b of ["DB", "SESSIONS", "SCHEDULER", "FEISHU_TOKENS", "CHANNEL_INGRESS", "CACHE_TTL_MS", "REGION", "REGIONS", "DO_JURISDICTION", "DO_LOCATION_HINT", "REGION_EU", "REGION_US", "REGION_APAC"]) expect(eu).toContain(b);
    expect(expectedBindings(regions, "global")).toEqual(["ASSETS", "GATEWAY_ROLE", "REGIONS", "REGION_APAC", "REGION_EU", "REGION_US"]); // ASSETS: inherited, unused (docs/console.md)
  });
  it("reads the names from wrangler's binding table", () => {
    const out = "Your Worker has access to the following bindings:\nBinding   Resource\nenv.DB (edgeclaw-eu)      D1 Database\nenv.REGION (\"eu\")     Environment Variable\n\n--dry-run: exiting now.";
    expect(listedBindings(out)).toEqual(["DB", "REGION"]);
  });
});

describe("npm run deploy (real mode, fake wrangler CLI)", () => {
  it("--region eu: creates the database in the eu jurisdiction, migrates remotely, puts secrets through stdin, deploys, prints URLs", async () => {
    const a = account();
    const secrets = join(a.dir, "eu.env");
    writeFileSync(secrets, `# eu\nVAULT_KEYS='${VAULT}'\nTELEGRAM_EU_BOT="${BOT}"\n`);
    const r = await run(["--region", "eu", "--secrets-file", secrets], { ...a.env, ADMIN_JWT_SECRET: JWT });
    expect(r.code, r.output).toBe(0);
    const all = a.calls();
    // Stubs aside (below), the steps in order.
    const isStubStep = (c: Call) => c.args[0] === "deployments" || (c.args[0] === "deploy" && !c.args.includes("--env"));
    const calls = all.filter((c) => !isStubStep(c));
    expect(calls.map((c) => c.args.slice(0, 3).join(" "))).toEqual([
      "d1 list --json",
      "d1 create edgeclaw-eu",
      "d1 list --json",
      "d1 migrations apply",
      "queues info edgeclaw-usage-eu",
      "queues create edgeclaw-usage-eu",
      "queues info edgeclaw-usage-eu-dlq",
      "queues create edgeclaw-usage-eu-dlq",
      "secret bulk --env",
      "deploy --env eu",
    ]);
    expect(calls[1]!.args).toEqual(["d1", "create", "edgeclaw-eu", "--jurisdiction", "eu", "--update-config=false"]);
    expect(calls[3]!.args.slice(0, 7)).toEqual(["d1", "migrations", "apply", "edgeclaw-eu", "--remote", "--env", "eu"]);
    // The usage queue and its dead-letter queue hold tenant data while they wait: created in the
    // region's jurisdiction, like its database.
    expect(a.state().queues).toEqual([
      { name: "edgeclaw-usage-eu", jurisdiction: "eu" },
      { name: "edgeclaw-usage-eu-dlq", jurisdiction: "eu" },
    ]);
    expect(calls[8]!.args.slice(0, 4)).toEqual(["secret", "bulk", "--env", "eu"]);
    expect(JSON.parse(calls[8]!.input)).toEqual({ ADMIN_JWT_SECRET: JWT, VAULT_KEYS: VAULT, TELEGRAM_EU_BOT: BOT });
    expect(calls[9]!.args.slice(0, 3)).toEqual(["deploy", "--env", "eu"]);
    // An empty account: eu binds REGION_EU, REGION_US and REGION_APAC, which must exist before
    // its upload (the fake refuses it otherwise, as Cloudflare does), so each gets a stub first.
    expect(a.state().deployed).toEqual([
      { name: "edgeclaw-eu", stub: true },
      { name: "edgeclaw-us", stub: true },
      { name: "edgeclaw-apac", stub: true },
      { name: "edgeclaw-eu", stub: false },
    ]);
    expect(r.output).toContain("Worker edgeclaw-us does not exist yet: uploading a stub");
    // Secrets: on stdin only, never in argv, never on screen; wrangler gets the account token.
    for (const c of all) {
      expect(c.token).toBe("fake-api-token");
      for (const v of [JWT, VAULT, BOT, "vault-key-material"]) expect(c.args.join(" ")).not.toContain(v);
    }
    for (const v of [JWT, BOT, "vault-key-material"]) expect(r.output).not.toContain(v);
    expect(r.output).toContain("putting 3 secrets: ADMIN_JWT_SECRET, TELEGRAM_EU_BOT, VAULT_KEYS");
    // The deploy-time config: outside git, the created database's real id, paths back to the repo.
    const config = configOf(calls[9]!);
    expect(config.startsWith(join(a.dir, "out"))).toBe(true);
    expect(configOf(calls[3]!)).toBe(config);
    const text = readFileSync(config, "utf8");
    expect(text).toContain('"database_id": "11111110-2222-4333-8444-555555555555"');
    const main = /"main": "([^"]+)"/.exec(text)![1]!;
    expect(resolve(dirname(config), main)).toBe(join(root, "workers", "index.ts"));
    expect(r.output).toContain("https://edgeclaw-eu.example-account.workers.dev");
    expect(r.output).toContain("https://edgeclaw-eu.example-account.workers.dev/webhooks/<platform>/<account id>");
  });

  it("--all: reuses an existing database, creates us by jurisdiction and apac by location, deploys the global entry last without storage or shared secrets", async () => {
    const a = account([{ uuid: "eeeeeeee-0000-4000-8000-000000000001", name: "edgeclaw-eu", jurisdiction: "eu" }], ["edgeclaw-eu"]);
    const r = await run(["--all"], { ...a.env, ADMIN_JWT_SECRET: JWT });
    expect(r.code, r.output).toBe(0);
    const calls = a.calls();
    const creates = calls.filter((c) => c.args[0] === "d1" && c.args[1] === "create").map((c) => c.args.slice(2, 5));
    expect(creates).toEqual([
      ["edgeclaw-us", "--jurisdiction", "us"],
      ["edgeclaw-apac", "--location", "apac"],
    ]);
    // Queues: in the region's jurisdiction where it has one; apac (a location hint) has none.
    expect(a.state().queues).toEqual([
      { name: "edgeclaw-usage-eu", jurisdiction: "eu" },
      { name: "edgeclaw-usage-eu-dlq", jurisdiction: "eu" },
      { name: "edgeclaw-usage-us", jurisdiction: "us" },
      { name: "edgeclaw-usage-us-dlq", jurisdiction: "us" },
      { name: "edgeclaw-usage-apac", jurisdiction: null },
      { name: "edgeclaw-usage-apac-dlq", jurisdiction: null },
    ]);
    const deploys = calls.filter((c) => c.args[0] === "deploy" && c.args[1] === "--env").map((c) => c.args[2]);
    expect(deploys).toEqual(["eu", "us", "apac", "global"]);
    // us and apac did not exist: stubbed once each before eu's upload; eu was there; each probed once.
    expect(calls.filter((c) => c.args[0] === "deployments").map((c) => c.args[3])).toEqual(["edgeclaw-eu", "edgeclaw-us", "edgeclaw-apac"]);
    expect(a.state().deployed!.filter((d) => d.stub).map((d) => d.name)).toEqual(["edgeclaw-us", "edgeclaw-apac"]);
    expect(calls.at(-1)!.args.slice(0, 3)).toEqual(["deploy", "--env", "global"]);
    const euConfig = readFileSync(configOf(calls.find((c) => c.args[0] === "deploy" && c.args[2] === "eu")!), "utf8");
    expect(euConfig).toContain('"database_id": "eeeeeeee-0000-4000-8000-000000000001"');
    // Regions get the environment's secrets; the entry (no file of its own) gets none.
    const bulks = calls.filter((c) => c.args[1] === "bulk").map((c) => c.args[3]);
    expect(bulks).toEqual(["eu", "us", "apac"]);
    expect(calls.filter((c) => c.args.includes("global")).map((c) => c.args[0])).toEqual(["deploy"]);
    expect(calls.some((c) => c.args[0] === "d1" && c.args.some((x) => x.includes("global")))).toBe(false);
    expect(r.output).toContain("https://edgeclaw-global.example-account.workers.dev");
  });

  it("refuses an existing database in another jurisdiction (residency) and deploys nothing", async () => {
    const a = account([{ uuid: "eeeeeeee-0000-4000-8000-000000000002", name: "edgeclaw-eu", jurisdiction: null }]);
    const r = await run(["--region", "eu"], a.env);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/has jurisdiction none, deploy\/regions.json asks for eu/);
    expect(a.calls().map((c) => c.args[0])).toEqual(["d1"]);
  });

  it("needs the account's credentials, and calls nothing without them", async () => {
    const a = account();
    const r = await run(["--region", "eu"], { ...a.env, CLOUDFLARE_API_TOKEN: undefined });
    expect(r.code).toBe(2);
    expect(r.output).toContain("CLOUDFLARE_API_TOKEN");
    expect(a.calls()).toEqual([]);
  });

  it("refuses a secrets file naming something the Worker never reads, before any call", async () => {
    const a = account();
    const secrets = join(a.dir, "eu.env");
    writeFileSync(secrets, `ADMIN_JWT_SECRT="${JWT}"\n`);
    const r = await run(["--region", "eu", "--secrets-file", secrets], a.env);
    expect(r.code).toBe(1);
    expect(r.output).toContain("ADMIN_JWT_SECRT is not a secret the Worker reads");
    expect(r.output).not.toContain(JWT);
    expect(a.calls()).toEqual([]);
  });

  it("refuses an unknown region and --all with --region", async () => {
    const a = account();
    expect((await run(["--region", "mars"], a.env)).code).toBe(2);
    expect((await run(["--all", "--region", "eu"], a.env)).code).toBe(2);
    expect(a.calls()).toEqual([]);
  });
});
