// Runs the pinned wrangler (node_modules) with the offline, quiet environment PLATFORM.md names.
import { spawn, spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const wranglerBin = join(root, "node_modules", "wrangler", "bin", "wrangler.js");

// (Built from process.env: worker-configuration.d.ts declares the Worker's vars on
// NodeJS.ProcessEnv, as workerd populates process.env at this compatibility date.)
export function wranglerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_HIDE_BANNER: "true",
    ...extra,
  };
  // These would let the process environment into `wrangler types`' secret list.
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  delete env.CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV;
  return env;
}

// `wrangler types` with the flags worker-configuration.d.ts is generated with (its header records
// them, and `--check` re-reads them from there):
//   --env <first region>     the types of one regional env: the default env's bindings plus the
//                            region contract (every regional env has the same shape, which
//                            test/deploy/config.test.ts asserts). Without --env Wrangler types the
//                            union of all envs with every binding optional (the global entry env
//                            has no D1), and that optional DB would reach Cloudflare.Env.
//   --env-interface WranglerEnv  workers/env.ts builds the Worker's Env from it
//   --include-runtime=false  the runtime API types stay @cloudflare/workers-types (pinned in
//                            package.json); only the Env interface is generated
//   --strict-vars=false      vars typed string, not their literal values (tests set other values)
//   --env-file deploy/types.env  secrets for the types come from that value-less file, never from
//                            a developer's .dev.vars, so the output is the same on every machine
export function typesArgs(typesEnv: string): string[] {
  return ["types", "--env", typesEnv, "--env-interface", "WranglerEnv", "--include-runtime=false", "--strict-vars=false", "--env-file", "deploy/types.env"];
}

export function runWranglerSync(args: string[], opts: { cwd?: string; quiet?: boolean } = {}): { status: number; output: string } {
  const r = spawnSync(process.execPath, [wranglerBin, ...args], {
    cwd: opts.cwd ?? root,
    env: wranglerEnv(),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { status: r.status ?? 1, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

export function runWrangler(args: string[], opts: { cwd?: string } = {}): Promise<{ status: number; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [wranglerBin, ...args], { cwd: opts.cwd ?? root, env: wranglerEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolvePromise({ status: code ?? 1, output }));
  });
}
