// `npm run deploy -- --region eu`, `-- --all`, `-- --all --dry-run` (docs/deploy.md).
//   --region <name>      one region of deploy/regions.json (repeatable), or `global` for the entry
//   --all                every region, then the global entry
//   --dry-run            no account needed: validates deploy/regions.json and wrangler.jsonc,
//                        bundles each Worker (`wrangler deploy --dry-run`), lists the migrations
//                        and the secret names that would be put, prints the plan
//   --secrets-file <f>   dotenv file of secrets for the one region given (default
//                        .secrets/<region>.env when present; the environment's ADMIN_JWT_SECRET,
//                        VAULT_KEYS, PROVIDER_*, WEBHOOK_*, TELEGRAM_*, SLACK_*, DISCORD_*, LINE_*,
//                        WHATSAPP_*, FEISHU_* go to every region, the file's win)
// A real deploy needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID in the environment.
// Environment: EDGECLAW_DEPLOY_DIR (deploy-time configs; .wrangler/edgeclaw-deploy),
// EDGECLAW_SECRETS_DIR (where <region>.env files are looked for; .secrets),
// EDGECLAW_WRANGLER (an executable to run instead of the pinned wrangler; tests).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadRegions } from "./config/regions.ts";
import { root } from "./config/wrangler.ts";
import { checkedInConfigIsCurrent, deployGlobal, deployRegion, DeployError, dryRun, type DeployContext } from "./deploy/deploy.ts";
import { wranglerRunner } from "./deploy/runner.ts";

function usage(message: string): never {
  console.error(`[deploy] ${message}\nusage: npm run deploy -- (--region <name> ... | --all) [--dry-run] [--secrets-file <file>]`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        region: { type: "string", multiple: true },
        all: { type: "boolean" },
        "dry-run": { type: "boolean" },
        "secrets-file": { type: "string" },
      },
      allowPositionals: false,
    });
  } catch (err) {
    usage((err as Error).message);
  }
})();

const log = (line: string) => console.log(`[deploy] ${line}`);
const cwd = process.env.INIT_CWD ?? process.cwd();

async function main(): Promise<number> {
  const regions = loadRegions(join(root, "deploy", "regions.json"));
  const known = regions.map((r) => r.name);
  const asked = values.region ?? [];
  if (values.all && asked.length > 0) usage("give --all or --region, not both");
  if (!values.all && asked.length === 0) usage("give --region <name> or --all");
  for (const r of asked) if (r !== "global" && !known.includes(r)) usage(`unknown region "${r}" (deploy/regions.json has ${known.join(", ")})`);
  const places = values.all ? [...known, "global"] : [...new Set(asked)];
  if (values["secrets-file"] && places.length !== 1) usage("--secrets-file goes with exactly one --region");

  if (!checkedInConfigIsCurrent(root, regions)) {
    console.error("[deploy] wrangler.jsonc is stale: run `npm run config` (and commit it) first");
    return 1;
  }
  log(`deploy/regions.json valid (${known.join(", ")}); wrangler.jsonc matches the generator`);

  const dry = values["dry-run"] === true;
  const tmp = dry ? mkdtempSync(join(tmpdir(), "edgeclaw-deploy-")) : null;
  const ctx: DeployContext = {
    root,
    regions,
    runner: wranglerRunner(),
    log,
    env: process.env,
    outDir: tmp ?? resolve(cwd, process.env.EDGECLAW_DEPLOY_DIR ?? join(root, ".wrangler", "edgeclaw-deploy")),
    secretsFile: values["secrets-file"] ? resolve(cwd, values["secrets-file"]) : undefined,
    secretsDir: resolve(cwd, process.env.EDGECLAW_SECRETS_DIR ?? join(root, ".secrets")),
  };
  try {
    if (dry) {
      // Bundles are independent: two at a time.
      const queue = [...places];
      const failures: string[] = [];
      const lines = new Map<string, string[]>();
      const worker = async () => {
        for (let place = queue.shift(); place; place = queue.shift()) {
          const own: string[] = [];
          lines.set(place, own);
          try {
            await dryRun({ ...ctx, log: (l) => own.push(l) }, place);
          } catch (err) {
            failures.push(`${place}: ${(err as Error).message}`);
          }
        }
      };
      await Promise.all([worker(), worker()]);
      for (const place of places) for (const l of lines.get(place) ?? []) log(l);
      if (failures.length) {
        for (const f of failures) console.error(`[deploy] FAILED ${f}`);
        return 1;
      }
      log(`dry run passed for ${places.join(", ")}`);
      return 0;
    }
    if (!process.env.CLOUDFLARE_API_TOKEN || !process.env.CLOUDFLARE_ACCOUNT_ID) {
      console.error("[deploy] a real deploy needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID in the environment (or use --dry-run)");
      return 2;
    }
    for (const place of places) {
      if (place === "global") await deployGlobal(ctx);
      else await deployRegion(ctx, regions.find((r) => r.name === place)!);
    }
    log(`deployed ${places.join(", ")}`);
    return 0;
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[deploy] ${err instanceof DeployError || err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
