// `npm run typecheck` (the first step of `npm test`) runs `node scripts/wrangler-config.ts --check`:
// wrangler.jsonc must be what the generator makes, and worker-configuration.d.ts what
// `wrangler types` makes of it (`wrangler types --check`). Each case checks a copy of the config
// in a temporary folder (its paths pointing back at this repository), never the repo's own files.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderConfig } from "../../scripts/config/generate.ts";
import { loadRegions } from "../../scripts/config/regions.ts";
import { runWranglerSync, typesArgs } from "../../scripts/config/wrangler.ts";

const root = join(import.meta.dirname, "..", "..");
const regions = loadRegions(join(root, "deploy", "regions.json"));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// The generated config, written to a fresh folder; `edit` changes its text first.
function copy(edit: (text: string) => string = (t) => t): string {
  const dir = mkdtempSync(join(tmpdir(), "edgeclaw-types-"));
  dirs.push(dir);
  const text = renderConfig(regions, { root: relative(dir, root).split("\\").join("/") });
  writeFileSync(join(dir, "wrangler.jsonc"), edit(text));
  return join(dir, "wrangler.jsonc");
}

// A KV binding added to every regional env (and the top level), as a hand edit would.
function addBinding(text: string): string {
  const kv = `"kv_namespaces": [{ "binding": "EXTRA_KV", "id": "0123456789abcdef0123456789abcdef" }],`;
  const out = text.replace(/\n {2}"d1_databases": \[/, `\n  ${kv}\n  "d1_databases": [`).replace(/\n {6}"d1_databases": \[/g, `\n      ${kv}\n      "d1_databases": [`);
  expect(out).not.toBe(text);
  return out;
}

const typesCheck = (config: string) => runWranglerSync([...typesArgs(regions[0]!.name), "--check", "--config", config]);
// What `npm run typecheck` runs first, against the copy.
function typecheckStep(config: string) {
  const r = spawnSync(process.execPath, [join(root, "scripts", "wrangler-config.ts"), "--check", "--config", config], { cwd: root, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("generated types", () => {
  it("worker-configuration.d.ts records the pinned flags and declares no secrets", () => {
    const types = readFileSync(join(root, "worker-configuration.d.ts"), "utf8");
    expect(types).toContain("--env-file=deploy/types.env");
    expect(types).toContain("--include-runtime=false");
    expect(types).not.toMatch(/ADMIN_JWT_SECRET|VAULT_KEYS|PROVIDER_/);
  });

  it("the unmodified config passes, also with a .dev.vars full of secrets beside it", () => {
    const config = copy();
    expect(typesCheck(config).status, typesCheck(config).output).toBe(0);
    // `npm start` writes .dev.vars; Wrangler would add its names to the types unless --env-file
    // says otherwise, and then the check would depend on the machine.
    writeFileSync(join(config, "..", ".dev.vars"), 'ADMIN_JWT_SECRET="a-local-secret-0123456789abcdef0123"\nPROVIDER_LOCAL_KEY="sk-local"\n');
    const r = typecheckStep(config);
    expect(r.status, r.output).toBe(0);
  });

  it("a binding added to the config without regenerating the types fails `wrangler types --check`", () => {
    const r = typesCheck(copy(addBinding));
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/out of date/);
  });

  it("and fails the test command's typecheck step (the config no longer matches its generator)", () => {
    const r = typecheckStep(copy(addBinding));
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/stale/);
  });

  it("a hand edit of a var fails the typecheck step too", () => {
    const r = typecheckStep(copy((t) => t.replace('"CACHE_TTL_MS": "30000"', '"CACHE_TTL_MS": "1000"')));
    expect(r.status).toBe(1);
  });
});
