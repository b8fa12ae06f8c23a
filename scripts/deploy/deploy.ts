// `npm run deploy`: the steps for one region (and the global entry), real or dry run.
// Real: find or create the region's D1 database (with its jurisdiction or location hint), write a
// deploy-time wrangler config with its real id (never in git), apply the D1 migrations remotely,
// create its queues when missing (in its jurisdiction),
// upload a stub for each bound region Worker not on the account yet, put the secrets (stdin of
// `wrangler secret bulk`), `wrangler deploy --env <region>`, print the URLs. Dry run: everything that needs no account: config validation, the bundle
// (`wrangler deploy --dry-run`), the migrations and secret names that would go out, the plan.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { baseConfig } from "../config/base.ts";
import { regionQueueName, regionVars, renderConfig, workerName } from "../config/generate.ts";
import { regionAnalytics, regionBinding } from "../config/regions.ts";
import type { Region, Regions, Route } from "../config/regions.ts";
import { collectSecrets } from "./secrets.ts";
import type { Runner } from "./runner.ts";

export interface DeployContext {
  root: string;
  regions: Regions;
  runner: Runner;
  log: (line: string) => void;
  env: NodeJS.ProcessEnv;
  // Where deploy-time configs (real database ids) and dry-run bundles go.
  outDir: string;
  // An explicit --secrets-file (one region only); else <secretsDir>/<region>.env when present.
  secretsFile?: string;
  secretsDir: string;
  // Workers known to exist on the account in this run (probed, stubbed or deployed).
  existing?: Set<string>;
}

export class DeployError extends Error {}

function posix(path: string): string {
  return path.split("\\").join("/");
}

export function d1CreateFlags(region: Region): string[] {
  return "jurisdiction" in region.d1 ? ["--jurisdiction", region.d1.jurisdiction] : ["--location", region.d1.location];
}

export function migrationFiles(root: string): string[] {
  return readdirSync(join(root, "schema", "migrations"))
    .filter((f) => f.endsWith(".sql"))
    .sort();
}

function secretsFor(ctx: DeployContext, place: string) {
  const file = ctx.secretsFile ?? join(ctx.secretsDir, `${place}.env`);
  const set = collectSecrets({ file, fileRequired: ctx.secretsFile !== undefined, env: ctx.env, fromEnvironment: place !== "global" });
  if (place === "global") set.warnings = [];
  return set;
}

// The generated config, written where wrangler reads it with --config: paths relative to it, and
// the real database ids of the regions given.
function writeConfig(ctx: DeployContext, name: string, databaseIds: Record<string, string>): string {
  mkdirSync(ctx.outDir, { recursive: true });
  const path = join(ctx.outDir, `wrangler.${name}.jsonc`);
  const text = renderConfig(ctx.regions, { root: posix(relative(ctx.outDir, ctx.root)), databaseIds });
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function wrangler(ctx: DeployContext, step: string, args: string[], input?: string) {
  const r = await ctx.runner(args, { cwd: ctx.root, input });
  if (r.status !== 0) {
    // wrangler's own output names the problem; it never contains the secrets (stdin only).
    throw new DeployError(`${step} failed (wrangler ${args.slice(0, 3).join(" ")}, exit ${r.status}):\n${(r.stdout + r.stderr).trim()}`);
  }
  return r;
}

function parseJsonArray(text: string): unknown[] {
  const start = text.indexOf("[");
  try {
    const parsed: unknown = JSON.parse(text.slice(start));
    if (Array.isArray(parsed)) return parsed;
  } catch {
    // fall through
  }
  throw new DeployError(`wrangler d1 list --json printed no JSON list:\n${text.slice(0, 500)}`);
}

interface D1Row {
  uuid: string;
  name: string;
  jurisdiction?: string | null;
}

async function findDatabase(ctx: DeployContext, name: string): Promise<D1Row | undefined> {
  const r = await wrangler(ctx, "listing D1 databases", ["d1", "list", "--json"]);
  return parseJsonArray(r.stdout).find((row): row is D1Row => {
    const o = row as Partial<D1Row> | null;
    return !!o && o.name === name && typeof o.uuid === "string";
  });
}

// The region's database id, creating the database when missing. An existing database whose
// jurisdiction differs from regions.json is refused: its data would not be where it should.
async function ensureDatabase(ctx: DeployContext, region: Region): Promise<string> {
  const name = workerName(region.name);
  let row = await findDatabase(ctx, name);
  if (!row) {
    ctx.log(`  creating D1 database ${name} (${d1CreateFlags(region).join(" ")})`);
    await wrangler(ctx, `creating D1 database ${name}`, ["d1", "create", name, ...d1CreateFlags(region), "--update-config=false"]);
    row = await findDatabase(ctx, name);
    if (!row) throw new DeployError(`D1 database ${name} was created but does not appear in \`wrangler d1 list\``);
  } else {
    ctx.log(`  D1 database ${name} exists (${row.uuid})`);
  }
  const want = "jurisdiction" in region.d1 ? region.d1.jurisdiction : null;
  if (want && row.jurisdiction !== undefined && (row.jurisdiction ?? null) !== want) {
    throw new DeployError(`D1 database ${name} has jurisdiction ${row.jurisdiction ?? "none"}, deploy/regions.json asks for ${want}; a jurisdiction is fixed at creation (create a new database, move the data)`);
  }
  return row.uuid;
}

// The region's queues (each producer's queue and each consumer's dead-letter queue, under the
// region's names). A queue holds tenant data (usage events) while it waits, so it is created in the
// region's jurisdiction where Queues offer one (eu, us, fedramp: `wrangler queues create
// --jurisdiction`), like its D1 database; elsewhere without one.
export function regionQueueNames(region: Region): string[] {
  const names = [
    ...baseConfig.queues.producers.map((p) => p.queue),
    ...baseConfig.queues.consumers.flatMap((c) => [c.queue, c.dead_letter_queue]),
  ].map((q) => regionQueueName(q, region.name));
  return [...new Set(names)];
}

const QUEUE_JURISDICTIONS = ["eu", "us", "fedramp"];

export function queueCreateFlags(region: Region): string[] {
  const j = "jurisdiction" in region.d1 ? region.d1.jurisdiction : null;
  return j !== null && QUEUE_JURISDICTIONS.includes(j) ? ["--jurisdiction", j] : [];
}

async function ensureQueues(ctx: DeployContext, region: Region): Promise<void> {
  for (const name of regionQueueNames(region)) {
    const r = await ctx.runner(["queues", "info", name], { cwd: ctx.root });
    if (r.status === 0) {
      ctx.log(`  queue ${name} exists`);
      continue;
    }
    // 11000: the queue does not exist; anything else (auth, network) stops here.
    if (!/11000|does not exist|not found/i.test(`${r.stdout}${r.stderr}`)) throw new DeployError(`checking queue ${name} failed:\n${(r.stdout + r.stderr).trim()}`);
    ctx.log(`  creating queue ${name}${queueCreateFlags(region).length ? ` (${queueCreateFlags(region).join(" ")})` : ""}`);
    await wrangler(ctx, `creating queue ${name}`, ["queues", "create", name, ...queueCreateFlags(region)]);
  }
}

// Cloudflare refuses to upload a Worker whose service binding names a Worker that does not exist
// yet (API error 10143), and every regional Worker and the entry bind every region, their own
// included. So before the first deploy each missing one gets a stub: a Worker without routes or
// workers.dev URL that answers 503, replaced by the region's own deploy.
async function ensureBoundWorkers(ctx: DeployContext): Promise<void> {
  const existing = (ctx.existing ??= new Set<string>());
  for (const region of ctx.regions) {
    const name = workerName(region.name);
    if (existing.has(name)) continue;
    const r = await ctx.runner(["deployments", "status", "--name", name, "--json"], { cwd: ctx.root });
    if (r.status !== 0) {
      // 10007: workers.api.error.script_not_found; anything else (auth, network) stops here.
      if (!`${r.stdout}${r.stderr}`.includes("10007")) throw new DeployError(`checking whether Worker ${name} exists failed:\n${(r.stdout + r.stderr).trim()}`);
      ctx.log(`  Worker ${name} does not exist yet: uploading a stub (no URL, answers 503) so that service bindings to it resolve`);
      const dir = join(ctx.outDir, "stub");
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, "stub.js"),
        "export default { fetch() { return Response.json({ error: { code: 'region_not_deployed', message: 'this region has not been deployed yet' } }, { status: 503 }); } };\n",
      );
      const config = join(dir, `wrangler.${region.name}.json`);
      writeFileSync(config, JSON.stringify({ name, main: "stub.js", compatibility_date: baseConfig.compatibility_date, workers_dev: false }, null, 2));
      await wrangler(ctx, `uploading a stub for ${name}`, ["deploy", "--config", config]);
    }
    existing.add(name);
  }
}

const URL_RE = /https:\/\/[A-Za-z0-9.-]+(?:\/[^\s]*)?/g;

// The workers.dev URL wrangler printed, and the configured routes (a custom domain is served at
// https://<pattern>; a zone route's pattern is shown as written).
function printUrls(ctx: DeployContext, place: string, deployOutput: string, routes: Route[] = []): void {
  const printed = [...new Set(deployOutput.match(URL_RE) ?? [])].filter((u) => !u.includes("developers.cloudflare.com") && !u.includes("dash.cloudflare.com"));
  const custom = routes.filter((r) => "custom_domain" in r).map((r) => `https://${r.pattern}`);
  const urls = [...new Set([...printed, ...custom])];
  for (const r of routes) if ("zone_name" in r) ctx.log(`  ${workerName(place)}: route ${r.pattern} (zone ${r.zone_name})`);
  if (urls.length === 0 && routes.length === 0) ctx.log(`  ${workerName(place)}: no URL in wrangler's output (workers.dev off and no routes?)`);
  for (const url of urls) {
    let base = url;
    while (base.endsWith("/")) base = base.slice(0, -1);
    ctx.log(`  ${workerName(place)}: ${base}`);
    if (place === "global") {
      ctx.log(`    the one hostname for clients and platforms: ${base}/v1/..., ${base}/webhooks/<platform>/<account id>, ${base}/webchat/<account id>, ${base}/admin/...`);
    } else {
      ctx.log(`    OpenAI-compatible API: ${base}/v1   admin: ${base}/admin`);
      ctx.log(`    platform webhooks: ${base}/webhooks/<platform>/<account id>   WebChat: ${base}/webchat/<account id>`);
    }
  }
}

export async function deployRegion(ctx: DeployContext, region: Region): Promise<void> {
  const name = workerName(region.name);
  ctx.log(`region ${region.name} → Worker ${name}`);
  const secrets = secretsFor(ctx, region.name);
  const id = await ensureDatabase(ctx, region);
  const config = writeConfig(ctx, region.name, { [region.name]: id });
  ctx.log(`  applying D1 migrations to ${name} (remote)`);
  await wrangler(ctx, "applying migrations", ["d1", "migrations", "apply", name, "--remote", "--env", region.name, "--config", config]);
  await ensureQueues(ctx, region);
  await ensureBoundWorkers(ctx);
  await putSecrets(ctx, region.name, config, secrets.values);
  for (const w of secrets.warnings) ctx.log(`  warning: ${w}`);
  ctx.log(`  deploying ${name}`);
  const r = await wrangler(ctx, "deploying", ["deploy", "--env", region.name, "--config", config]);
  printUrls(ctx, region.name, r.stdout, region.routes);
}

export async function deployGlobal(ctx: DeployContext): Promise<void> {
  ctx.log(`global entry → Worker ${workerName("global")} (no D1, no Durable Objects)`);
  const secrets = secretsFor(ctx, "global");
  const config = writeConfig(ctx, "global", {});
  await ensureBoundWorkers(ctx);
  await putSecrets(ctx, "global", config, secrets.values);
  const r = await wrangler(ctx, "deploying", ["deploy", "--env", "global", "--config", config]);
  printUrls(ctx, "global", r.stdout, ctx.regions.globalRoutes);
}

async function putSecrets(ctx: DeployContext, env: string, config: string, values: Record<string, string>): Promise<void> {
  const names = Object.keys(values).sort();
  if (names.length === 0) {
    ctx.log("  no secrets to put");
    return;
  }
  ctx.log(`  putting ${names.length} secrets: ${names.join(", ")}`);
  // JSON on stdin (wrangler reads stdin when no file is given): values never on argv or screen.
  await wrangler(ctx, "putting secrets", ["secret", "bulk", "--env", env, "--config", config], JSON.stringify(values));
}

// The binding names wrangler lists ("env.DB (edgeclaw-eu)   D1 Database") after a dry run.
export function listedBindings(output: string): string[] {
  const names: string[] = [];
  for (const line of output.split("\n")) {
    const m = /^env\.([A-Za-z0-9_]+) /.exec(line);
    if (m) names.push(m[1]!);
  }
  return names.sort();
}

// What each place must list: a region, every binding and var of the default env plus the region
// contract; the global entry, only the service bindings and its two vars. Both inherit the
// console's static assets binding (wrangler.jsonc "assets").
export function expectedBindings(regions: Region[], place: string): string[] {
  const services = regions.map((r) => regionBinding(r.name));
  const region = regions.find((r) => r.name === place);
  if (!region) return [...services, "GATEWAY_ROLE", "REGIONS", baseConfig.assets.binding].sort();
  const base = [
    ...baseConfig.d1_databases.map((d) => d.binding),
    ...baseConfig.durable_objects.bindings.map((b) => b.name),
    ...baseConfig.ratelimits.map((r) => r.name),
    ...baseConfig.queues.producers.map((q) => q.binding),
    ...(regionAnalytics(region) ? baseConfig.analytics_engine_datasets.map((a) => a.binding) : []),
    ...Object.keys(baseConfig.vars),
    baseConfig.assets.binding,
  ];
  return [...base, ...services, ...Object.keys(regionVars(region, regions))].sort();
}

// --dry-run for one place (a region or "global"): bundle, migrations, secret names, the plan.
export async function dryRun(ctx: DeployContext, place: string): Promise<void> {
  const region = ctx.regions.find((r) => r.name === place);
  const name = workerName(place);
  const secrets = secretsFor(ctx, place);
  const config = writeConfig(ctx, place, {});
  const outdir = join(ctx.outDir, "dry-run", place);
  const built = await wrangler(ctx, `bundling ${name}`, ["deploy", "--dry-run", "--env", place, "--config", config, "--outdir", outdir]);
  // The bindings as wrangler itself resolved them for this env (it does not inherit them).
  const listed = listedBindings(built.stdout);
  const expected = expectedBindings(ctx.regions, place);
  const missing = expected.filter((b) => !listed.includes(b));
  const extra = listed.filter((b) => !expected.includes(b));
  if (missing.length || extra.length) {
    throw new DeployError(`wrangler lists other bindings for ${name} than the default env's${missing.length ? `; missing: ${missing.join(", ")}` : ""}${extra.length ? `; unexpected: ${extra.join(", ")}` : ""}`);
  }
  const bundle = readdirSync(outdir).filter((f) => f.endsWith(".js"));
  const bytes = bundle.reduce((n, f) => n + statSync(join(outdir, f)).size, 0);
  const lines = [`${place}: Worker ${name}, bundle ${(bytes / 1024).toFixed(0)} KiB (${bundle.join(", ")}), ${listed.length} bindings as expected`];
  if (region) {
    lines.push(`  D1 ${name}: found by \`wrangler d1 list\`, else \`wrangler d1 create ${name} ${d1CreateFlags(region).join(" ")}\``);
    const dos = "jurisdiction" in region.durableObjects ? `jurisdiction ${region.durableObjects.jurisdiction}` : `location hint ${region.durableObjects.locationHint}`;
    lines.push(`  Durable Objects: ${dos} (vars DO_JURISDICTION / DO_LOCATION_HINT)`);
    lines.push(`  queues: ${regionQueueNames(region).map((q) => `${q}${queueCreateFlags(region).length ? ` (${queueCreateFlags(region).join(" ")})` : ""}`).join(", ")}, created when missing`);
    const migrations = migrationFiles(ctx.root);
    lines.push(`  migrations (remote; wrangler skips those already applied): ${migrations.join(", ")}`);
  } else {
    lines.push(`  no D1, no Durable Objects, no migrations, no crons; service bindings to ${ctx.regions.map((r) => workerName(r.name)).join(", ")}`);
  }
  const names = Object.keys(secrets.values).sort();
  const from = secrets.file ? ` (${relative(ctx.root, secrets.file) || secrets.file} and the environment)` : " (the environment)";
  lines.push(`  secrets to put: ${names.length ? names.map((n) => `${n} [${secrets.sources[n]}]`).join(", ") : "none"}${names.length ? from : ""}`);
  for (const w of secrets.warnings) lines.push(`  warning: ${w}`);
  lines.push(`  then: a stub for each of ${ctx.regions.map((r) => workerName(r.name)).join(", ")} not yet on the account (service bindings need their targets), wrangler deploy --env ${place}`);
  for (const l of lines) ctx.log(l);
}

export function checkedInConfigIsCurrent(root: string, regions: Regions): boolean {
  return readFileSync(join(root, "wrangler.jsonc"), "utf8") === renderConfig(regions);
}
