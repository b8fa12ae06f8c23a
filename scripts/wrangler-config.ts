// `npm run config`: writes wrangler.jsonc from scripts/config/base.ts and deploy/regions.json, then
// regenerates worker-configuration.d.ts with `wrangler types`.
// `npm run config -- --check` (run by `npm run typecheck`): fails when wrangler.jsonc differs from
// what the generator makes or when the types are stale (`wrangler types --check`); writes nothing.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderConfig } from "./config/generate.ts";
import { loadRegions } from "./config/regions.ts";
import { root, runWranglerSync, typesArgs } from "./config/wrangler.ts";

const check = process.argv.includes("--check");
const configPath = join(root, "wrangler.jsonc");

function fail(message: string): never {
  console.error(`[config] ${message}`);
  process.exit(1);
}

let expected: string;
let typesEnv: string;
try {
  const regions = loadRegions(join(root, "deploy", "regions.json"));
  expected = renderConfig(regions);
  typesEnv = regions[0]!.name;
} catch (err) {
  fail((err as Error).message);
}

if (check) {
  let current = "";
  try {
    current = readFileSync(configPath, "utf8");
  } catch {
    fail("wrangler.jsonc is missing: run `npm run config`");
  }
  if (current !== expected) fail("wrangler.jsonc is stale (or was edited by hand): run `npm run config` and commit the result");
  const types = runWranglerSync([...typesArgs(typesEnv), "--check"]);
  if (types.status !== 0) fail(`worker-configuration.d.ts is stale: run \`npm run config\`\n${types.output.trim()}`);
  console.log("[config] wrangler.jsonc and worker-configuration.d.ts are up to date");
} else {
  writeFileSync(configPath, expected);
  const types = runWranglerSync(typesArgs(typesEnv));
  if (types.status !== 0) fail(`wrangler types failed:\n${types.output}`);
  console.log("[config] wrote wrangler.jsonc and worker-configuration.d.ts");
}
