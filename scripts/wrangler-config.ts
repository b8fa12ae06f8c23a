// `npm run config`: writes wrangler.jsonc from scripts/config/base.ts and deploy/regions.json, then
// regenerates worker-configuration.d.ts with `wrangler types`.
// `npm run config -- --check` (run by `npm run typecheck`): fails when wrangler.jsonc differs from
// what the generator makes or when the types are stale (`wrangler types --check`); writes nothing.
// `--check --config <file>` checks a copy elsewhere, its paths relative to it (test/deploy/).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { renderConfig } from "./config/generate.ts";
import { loadRegions } from "./config/regions.ts";
import { root, runWranglerSync, typesArgs } from "./config/wrangler.ts";

const { values } = parseArgs({ options: { check: { type: "boolean" }, config: { type: "string" } } });
const configPath = values.config ? resolve(process.env.INIT_CWD ?? process.cwd(), values.config) : join(root, "wrangler.jsonc");
const configArgs = values.config ? ["--config", configPath] : [];
if (values.config && !values.check) {
  console.error("[config] --config goes with --check (the repository's wrangler.jsonc is the one written)");
  process.exit(2);
}

function fail(message: string): never {
  console.error(`[config] ${message}`);
  process.exit(1);
}

let expected: string;
let typesEnv: string;
try {
  const regions = loadRegions(join(root, "deploy", "regions.json"));
  expected = renderConfig(regions, { root: relative(dirname(configPath), root).split("\\").join("/") });
  typesEnv = regions[0]!.name;
} catch (err) {
  fail((err as Error).message);
}

if (values.check) {
  let current = "";
  try {
    current = readFileSync(configPath, "utf8");
  } catch {
    fail(`${configPath} is missing: run \`npm run config\``);
  }
  if (current !== expected) fail(`${relative(root, configPath)} is stale (or was edited by hand): change scripts/config/base.ts or deploy/regions.json instead, run \`npm run config\` and commit the result`);
  const types = runWranglerSync([...typesArgs(typesEnv), "--check", ...configArgs]);
  if (types.status !== 0) fail(`worker-configuration.d.ts is stale: run \`npm run config\`\n${types.output.trim()}`);
  console.log("[config] wrangler.jsonc and worker-configuration.d.ts are up to date");
} else {
  writeFileSync(configPath, expected);
  const types = runWranglerSync([...typesArgs(typesEnv), ...configArgs]);
  if (types.status !== 0) fail(`wrangler types failed:\n${types.output}`);
  console.log("[config] wrote wrangler.jsonc and worker-configuration.d.ts");
}
